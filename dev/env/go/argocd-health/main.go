// Command argocd-health runs Argo CD resource health scripts (health.lua) with gopher-lua, the Lua
// runtime Argo CD embeds, set up the way Argo CD's util/lua does it: only the package, base and table
// libraries plus a safe subset of os, the object as the global `obj` (a Lua table), and the script's
// returned table read as {status, message}.
//
//	argocd-health eval <health.lua>   < object.json   prints {"status","message"} for one object
//	argocd-health test <root>                          runs every <group>/<Kind>/health_test.yaml under root
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

var validStatuses = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

func decodeValue(l *lua.LState, v interface{}) lua.LValue {
	switch t := v.(type) {
	case map[string]interface{}:
		tbl := l.NewTable()
		for k, item := range t {
			tbl.RawSetString(k, decodeValue(l, item))
		}
		return tbl
	case []interface{}:
		tbl := l.NewTable()
		for i, item := range t {
			tbl.RawSetInt(i+1, decodeValue(l, item))
		}
		return tbl
	case string:
		return lua.LString(t)
	case bool:
		return lua.LBool(t)
	case float64:
		return lua.LNumber(t)
	case int64:
		return lua.LNumber(t)
	case nil:
		return lua.LNil
	default:
		return lua.LString(fmt.Sprint(t))
	}
}

// safeOs is the part of os Argo CD leaves to health scripts (time and date only).
func safeOs(l *lua.LState) int {
	full := l.NewTable()
	l.Push(l.NewFunction(lua.OpenOs))
	l.Call(0, 1)
	osTbl := l.Get(-1).(*lua.LTable)
	l.Pop(1)
	for _, name := range []string{"time", "date", "clock", "difftime"} {
		full.RawSetString(name, osTbl.RawGetString(name))
	}
	l.SetGlobal(lua.OsLibName, full)
	l.Push(full)
	return 1
}

func evaluate(script string, obj map[string]interface{}) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.OsLibName, safeOs}} {
		l.Push(l.NewFunction(lib.fn))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.PreloadModule(lua.OsLibName, safeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	hs := healthStatus{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
	if !validStatuses[hs.Status] {
		return hs, fmt.Errorf("the script returned the invalid status %q", hs.Status)
	}
	return hs, nil
}

func readObject(path string) (map[string]interface{}, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	var obj map[string]interface{}
	// YAML is a superset of JSON: one reader for both.
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

type testFile struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

func runTests(root string) error {
	files, err := filepath.Glob(filepath.Join(root, "*", "*", "health_test.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no <group>/<Kind>/health_test.yaml under %s", root)
	}
	failed, passed := 0, 0
	for _, f := range files {
		dir := filepath.Dir(f)
		script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var tf testFile
		if err := yaml.Unmarshal(raw, &tf); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, tc := range tf.Tests {
			obj, err := readObject(filepath.Join(dir, tc.InputPath))
			if err != nil {
				return fmt.Errorf("%s: %w", tc.InputPath, err)
			}
			got, err := evaluate(string(script), obj)
			rel, _ := filepath.Rel(root, filepath.Join(dir, tc.InputPath))
			if err != nil || got != tc.HealthStatus {
				failed++
				fmt.Printf("FAIL %s: want %+v, got %+v (err %v)\n", rel, tc.HealthStatus, got, err)
			} else {
				passed++
				fmt.Printf("ok   %s: %s\n", rel, got.Status)
			}
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d health test(s) failed", failed)
	}
	return nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health eval <health.lua> [object.json|-] | argocd-health test <root>")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "eval":
		script, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err)
		}
		src := "-"
		if len(os.Args) > 3 {
			src = os.Args[3]
		}
		obj, err := readObject(src)
		if err != nil {
			fail(err)
		}
		hs, err := evaluate(string(script), obj)
		if err != nil {
			fail(err)
		}
		_ = json.NewEncoder(os.Stdout).Encode(hs)
	case "test":
		if err := runTests(os.Args[2]); err != nil {
			fail(err)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argocd-health:", err)
	os.Exit(1)
}
