//go:build windows

package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/wharfhq/wharf/server"
)

// serviceName is the name of the Windows service "wharf service install"
// creates and svc.Run reports to.
const serviceName = "wharf"

// runServer runs the server. Started by the service control manager, it runs
// under svc.Run: a Stop or Shutdown request cancels the server's context,
// the same graceful shutdown Ctrl-C gives in a console. A service has no
// console, so the log and the first start's admin password go to wharf.log
// in the data directory.
func runServer(cx *cli.Context, cfg server.Config) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("finding out whether wharf runs as a Windows service: %w", err)
	}
	if !isService {
		return server.Run(cx.Context, cfg)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(cfg.Dir, "wharf.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cfg.Logger, err = newLogger(logFile, logJSON(cx), cx.String("log-level")); err != nil {
		return err
	}
	cfg.Console = logFile
	cfg.ConsoleTerminal = false // a generated admin password goes to its own file, not the log
	h := &serviceHandler{
		ctx:  cx.Context,
		wait: cfg.ShutdownTimeout + 15*time.Second,
		run:  func(ctx context.Context) error { return server.Run(ctx, cfg) },
	}
	if err := svc.Run(serviceName, h); err != nil {
		return fmt.Errorf("running as the Windows service %q: %w", serviceName, err)
	}
	if h.err != nil {
		fmt.Fprintln(logFile, "wharf: "+OneLine(h.err)) // stderr goes nowhere
	}
	return h.err
}

// serviceHandler answers the service control manager while the server runs.
type serviceHandler struct {
	ctx  context.Context
	wait time.Duration // how long a stop may take, told to the manager
	run  func(context.Context) error
	err  error // what run returned
}

// Execute is svc.Handler's: it reports Running, cancels the server's context
// on Stop or Shutdown, and returns when the server has finished.
func (h *serviceHandler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	status <- svc.Status{State: svc.StartPending}
	go func() { done <- h.run(ctx) }()
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case h.err = <-done:
			status <- svc.Status{State: svc.StopPending}
			if h.err != nil {
				return true, 1 // a service-specific exit code: the manager's recovery actions apply
			}
			return false, 0
		case r := <-requests:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(h.wait / time.Millisecond)}
				cancel()
			}
		}
	}
}

// serviceCommand is "wharf service install|uninstall": register wharf with
// the service control manager (automatic start, restart after a failure),
// or remove it.
func (c *commands) serviceCommand() *cli.Command {
	return &cli.Command{
		Name:  "service",
		Usage: "install or uninstall wharf as a Windows service (run as administrator)",
		Subcommands: []*cli.Command{
			{
				Name:      "install",
				Usage:     "register the service: it starts with Windows and runs \"wharf serve\" with the flags given after --",
				ArgsUsage: "[-- SERVE-FLAGS...]",
				Action:    c.serviceInstall,
			},
			{Name: "uninstall", Usage: "stop and remove the service (the data directory stays)", Action: c.serviceUninstall},
		},
	}
}

func (c *commands) serviceInstall(cx *cli.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding wharf's own path: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return err
	}
	// The service runs as LocalSystem, whose own application-data folder
	// is deep in the system directory: default to %ProgramData%\Wharf.
	data := cx.String("data")
	if !cx.IsSet("data") {
		data = filepath.Join(os.Getenv("ProgramData"), "Wharf")
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("the service %q exists already: wharf service uninstall first", serviceName)
	}
	serveArgs := []string{"--data", data}
	if cx.IsSet("config") {
		config, err := filepath.Abs(cx.String("config"))
		if err != nil {
			return err
		}
		serveArgs = append(serveArgs, "--config", config)
	}
	serveArgs = append(append(serveArgs, "serve"), cx.Args().Slice()...)
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: "Wharf file server",
		Description: "WebDAV, resumable uploads and Phraseanet hand-off; log in " + filepath.Join(data, "wharf.log"),
		StartType:   mgr.StartAutomatic,
	}, serveArgs...)
	if err != nil {
		return fmt.Errorf("creating the service %q: %w", serviceName, err)
	}
	defer s.Close()
	restart := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}
	if err := s.SetRecoveryActions(restart, 24*60*60); err != nil {
		return fmt.Errorf("setting the service's restart on failure: %w", err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("setting the service's restart on failure: %w", err)
	}
	fmt.Fprintf(c.stdout, "installed the service %q: %s %v\n", serviceName, exe, serveArgs)
	fmt.Fprintf(c.stdout, "start it with: sc.exe start %s; the first admin password is written to %s\n",
		serviceName, filepath.Join(data, "wharf.log"))
	return nil
}

func (c *commands) serviceUninstall(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("the service %q is not installed: %w", serviceName, err)
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil {
			return fmt.Errorf("stopping the service %q: %w", serviceName, err)
		}
		deadline := time.Now().Add(time.Minute)
		for st.State != svc.Stopped {
			if time.Now().After(deadline) {
				return errors.New("the service did not stop within a minute; stop it (sc.exe stop wharf) and retry")
			}
			time.Sleep(300 * time.Millisecond)
			if st, err = s.Query(); err != nil {
				return fmt.Errorf("querying the service %q: %w", serviceName, err)
			}
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("removing the service %q: %w", serviceName, err)
	}
	fmt.Fprintf(c.stdout, "removed the service %q; its data directory is left as it was\n", serviceName)
	return nil
}
