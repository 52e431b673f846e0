package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// When this variable is set the test binary behaves as the language host itself, so the
// process-level behaviour (port line, serving, shutdown) can be tested without `go build`.
const beHostEnv = "LANGHOST_TEST_BE_HOST"

func TestMain(m *testing.M) {
	if os.Getenv(beHostEnv) != "" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(os.Getenv(beHostEnv))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args          []string
		engine, trace string
	}{
		{[]string{"127.0.0.1:1234"}, "127.0.0.1:1234", ""},
		{[]string{"--logtostderr", "-v=9", "--tracing", "http://t:9411", "127.0.0.1:1"}, "127.0.0.1:1", "http://t:9411"},
		{[]string{"-tracing=file:/x", "-root=/a", "-binary", "b", "-virtualenv", "venv",
			"-typechecker=mypy", "-toolchain", "uv", "-use-executor", "/e", "--unknown", "-x=1", "127.0.0.1:2"},
			"127.0.0.1:2", "file:/x"},
		// A value flag right before the address must not swallow it.
		{[]string{"-root", "127.0.0.1:3"}, "127.0.0.1:3", ""},
		{[]string{"--", "127.0.0.1:4"}, "127.0.0.1:4", ""},
		{nil, "", ""},
	}
	for _, c := range cases {
		opts, err := parseArgs(c.args)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if opts.engineAddress != c.engine || opts.tracing != c.trace {
			t.Errorf("%v: got engine=%q tracing=%q, want %q %q", c.args, opts.engineAddress, opts.tracing,
				c.engine, c.trace)
		}
	}
	opts, _ := parseArgs([]string{"-use-executor", "/e", "-toolchain", "uv", "addr"})
	if opts.executor != "/e" || opts.flags["toolchain"] != "uv" {
		t.Errorf("got %+v", opts)
	}
}

func structOf(t *testing.T, m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeVenv makes dir/venv/bin/python: a shell script that records its arguments, working
// directory and selected environment to dir/record.json-ish lines and exits with $FAKE_EXIT.
func fakeVenv(t *testing.T) (root, venv, record string) {
	t.Helper()
	root = t.TempDir()
	venv = filepath.Join(root, "venv")
	record = filepath.Join(root, "record")
	if err := os.MkdirAll(filepath.Join(venv, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
{
  pwd
  printf '%s\n' "$PULUMI_CONFIG"
  printf '%s\n' "$PULUMI_CONFIG_SECRET_KEYS"
  printf '%s\n' "$PATH"
  printf '%s\n' "$VIRTUAL_ENV"
  for a in "$@"; do printf '%s\n' "$a"; done
} > "` + record + `"
echo "hello from the program"
exit ${FAKE_EXIT:-0}
`
	if err := os.WriteFile(filepath.Join(venv, "bin", "python"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, venv, record
}

func TestChoosePython(t *testing.T) {
	root, venv, _ := fakeVenv(t)

	info := &pulumirpc.ProgramInfo{RootDirectory: root, Options: structOf(t, map[string]any{"virtualenv": "venv"})}
	py, gotVenv, err := choosePython(info)
	if err != nil || py != filepath.Join(venv, "bin", "python") || gotVenv != venv {
		t.Fatalf("relative venv: %q %q %v", py, gotVenv, err)
	}

	info.Options = structOf(t, map[string]any{"virtualenv": filepath.Join(root, "missing")})
	if _, _, err := choosePython(info); err == nil || !strings.Contains(err.Error(), "does not create virtual") {
		t.Fatalf("missing venv: want error, got %v", err)
	}

	t.Setenv("PULUMI_PYTHON_CMD", filepath.Join(venv, "bin", "python"))
	py, gotVenv, err = choosePython(&pulumirpc.ProgramInfo{RootDirectory: root})
	if err != nil || py != filepath.Join(venv, "bin", "python") || gotVenv != "" {
		t.Fatalf("PULUMI_PYTHON_CMD: %q %q %v", py, gotVenv, err)
	}

	t.Setenv("PULUMI_PYTHON_CMD", "")
	t.Setenv("PATH", filepath.Join(venv, "bin"))
	py, _, err = choosePython(nil)
	if err != nil || py != filepath.Join(venv, "bin", "python") {
		t.Fatalf("PATH python: %q %v", py, err)
	}
	t.Setenv("PATH", root)
	if _, _, err = choosePython(nil); err == nil {
		t.Fatal("want error without any python")
	}
}

func TestProgramPath(t *testing.T) {
	cases := []struct {
		req  *pulumirpc.RunRequest
		want string
	}{
		{&pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{ProgramDirectory: "/p", EntryPoint: "."}}, "/p"},
		{&pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{ProgramDirectory: "/p", EntryPoint: "main.py"}}, "/p/main.py"},
		{&pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{ProgramDirectory: "/p"}}, "/p"},
		{&pulumirpc.RunRequest{}, "."},
	}
	for _, c := range cases {
		if got := programPath(c.req); got != c.want {
			t.Errorf("%v: got %q want %q", c.req, got, c.want)
		}
	}
}

func TestRunResponseCodes(t *testing.T) {
	if r := runResponse(nil); r.Error != "" || r.Bail {
		t.Errorf("nil: %v", r)
	}
	code := func(n string) error { return exec.Command("sh", "-c", "exit "+n).Run() }
	if r := runResponse(code("32")); !r.Bail || r.Error != "" {
		t.Errorf("32: %v", r)
	}
	if r := runResponse(code("3")); r.Bail || r.Error != "Program exited with non-zero exit code: 3" {
		t.Errorf("3: %v", r)
	}
}

func runRequest(root, pwd string, opts *structpb.Struct) *pulumirpc.RunRequest {
	return &pulumirpc.RunRequest{
		Project: "proj", Stack: "dev", Pwd: pwd, MonitorAddress: "127.0.0.1:5",
		Config:           map[string]string{"proj:greeting": "hi"},
		ConfigSecretKeys: []string{"proj:secret"},
		DryRun:           true, Parallel: 16, Organization: "organization",
		Args: []string{"a1"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: root, ProgramDirectory: root, EntryPoint: ".", Options: opts},
	}
}

func TestRun(t *testing.T) {
	root, venv, record := fakeVenv(t)
	pwd := t.TempDir()
	var out strings.Builder
	h := newHost("/shim/pulumi-language-python-exec", "127.0.0.1:7", "")
	h.stdout, h.stderr = &out, &out
	req := runRequest(root, pwd, structOf(t, map[string]any{"virtualenv": venv}))

	resp, err := h.Run(context.Background(), req)
	if err != nil || resp.Error != "" || resp.Bail {
		t.Fatalf("Run: %v %v", resp, err)
	}
	if !strings.Contains(out.String(), "hello from the program") {
		t.Errorf("stdout not forwarded: %q", out.String())
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if lines[0] != pwd {
		t.Errorf("cwd %q, want %q", lines[0], pwd)
	}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(lines[1]), &cfg); err != nil || cfg["proj:greeting"] != "hi" {
		t.Errorf("PULUMI_CONFIG %q", lines[1])
	}
	if lines[2] != `["proj:secret"]` {
		t.Errorf("PULUMI_CONFIG_SECRET_KEYS %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], filepath.Join(venv, "bin")+":") || lines[4] != venv {
		t.Errorf("venv not activated: PATH=%q VIRTUAL_ENV=%q", lines[3], lines[4])
	}
	wantArgs := []string{"-u", "/shim/pulumi-language-python-exec",
		"--monitor", "127.0.0.1:5", "--engine", "127.0.0.1:7", "--project", "proj", "--stack", "dev",
		"--pwd", pwd, "--dry_run", "true", "--parallel", "16", "--organization", "organization",
		"--root_directory", root, root, "a1"}
	if !reflect.DeepEqual(lines[5:], wantArgs) {
		t.Errorf("args\n got %q\nwant %q", lines[5:], wantArgs)
	}

	t.Setenv("FAKE_EXIT", "32")
	if resp, _ := h.Run(context.Background(), req); !resp.Bail {
		t.Errorf("exit 32: %v", resp)
	}
	t.Setenv("FAKE_EXIT", "7")
	if resp, _ := h.Run(context.Background(), req); resp.Error != "Program exited with non-zero exit code: 7" {
		t.Errorf("exit 7: %v", resp)
	}

	bad := runRequest(root, pwd, structOf(t, map[string]any{"virtualenv": "nope"}))
	if resp, _ := h.Run(context.Background(), bad); !strings.Contains(resp.Error, "nope") {
		t.Errorf("bad venv: %v", resp)
	}
	if _, err := os.Stat(filepath.Join(root, "nope")); err == nil {
		t.Error("a virtualenv directory was created")
	}
}

// TestServe runs the test binary as the host process: it must print the port as its first
// line, answer RPCs, and exit on SIGINT.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	shim := filepath.Join(dir, execShimName)
	if err := os.WriteFile(shim, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), beHostEnv+"=--logtostderr -v=9 -use-executor "+shim+" 127.0.0.1:1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading port: %v", err)
	}
	port := strings.TrimSpace(line)
	conn, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pulumirpc.NewLanguageRuntimeClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := client.Handshake(ctx, &pulumirpc.LanguageHandshakeRequest{EngineAddress: "127.0.0.1:1"}); err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	info, err := client.GetPluginInfo(ctx, &emptypb.Empty{})
	if err != nil || info.Version != version {
		t.Fatalf("GetPluginInfo: %v %v", info, err)
	}
	if r, err := client.GetRequiredPackages(ctx, &pulumirpc.GetRequiredPackagesRequest{}); err != nil ||
		len(r.Packages) != 0 {
		t.Fatalf("GetRequiredPackages: %v %v", r, err)
	}
	stream, err := client.InstallDependencies(ctx, &pulumirpc.InstallDependenciesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil || !strings.Contains(string(msg.Stdout), "make setup") {
		t.Fatalf("InstallDependencies: %v %v", msg, err)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("host exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("host did not exit after SIGINT")
	}
}

func TestRunEnvProgramFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	req := &pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{ProgramDirectory: dir, EntryPoint: "app.py"}}
	env, err := runEnv([]string{"PATH=/bin", "PYTHONPATH=/x", "PULUMI_CONFIG=stale"}, req, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := getEnv(env, "PYTHONPATH"); got != dir+":/x" {
		t.Errorf("PYTHONPATH=%q", got)
	}
	if got := getEnv(env, "PULUMI_CONFIG"); got != "{}" {
		t.Errorf("PULUMI_CONFIG=%q", got)
	}
	if got := getEnv(env, "PULUMI_CONFIG_SECRET_KEYS"); got != "[]" {
		t.Errorf("PULUMI_CONFIG_SECRET_KEYS=%q", got)
	}
	if got := getEnv(env, "PATH"); got != "/bin" {
		t.Errorf("PATH=%q", got)
	}
	// A program directory is left to runpy.
	req.Info.EntryPoint = "."
	env, _ = runEnv([]string{"PATH=/bin"}, req, "")
	if got := getEnv(env, "PYTHONPATH"); got != "" {
		t.Errorf("PYTHONPATH=%q for a directory", got)
	}
}
