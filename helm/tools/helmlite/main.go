// helmlite: renders a Helm chart's templates the way Helm 3's engine does (text/template + sprig +
// Helm's extra functions, missingkey=zero, "<no value>" removed). A verification aid only.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}
func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}
func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}
func toJSON(v interface{}) string { b, _ := json.Marshal(v); return string(b) }

func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: helmlite CHART_DIR RELEASE NAMESPACE [values.yaml...]")
		os.Exit(2)
	}
	chartDir, release, ns := os.Args[1], os.Args[2], os.Args[3]
	read := func(p string) map[string]interface{} {
		b, err := os.ReadFile(p)
		if err != nil {
			panic(err)
		}
		m := map[string]interface{}{}
		if err := yaml.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("%s: %v", p, err))
		}
		return m
	}
	meta := read(filepath.Join(chartDir, "Chart.yaml"))
	values := read(filepath.Join(chartDir, "values.yaml"))
	for _, f := range os.Args[4:] {
		values = merge(values, read(f))
	}
	name := meta["name"].(string)
	data := map[string]interface{}{
		"Values":       values,
		"Release":      map[string]interface{}{"Name": release, "Namespace": ns, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart":        map[string]interface{}{"Name": name, "Version": meta["version"], "AppVersion": meta["appVersion"]},
		"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"}},
	}

	t := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includedNames := map[string]int{}
	funcs["include"] = func(n string, d interface{}) (string, error) {
		includedNames[n]++
		if includedNames[n] > 1000 {
			return "", fmt.Errorf("recursion in %s", n)
		}
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, n, d)
		includedNames[n]--
		return buf.String(), err
	}
	funcs["tpl"] = func(s string, d interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		c, err = c.New("tpl").Parse(s)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = c.Execute(&buf, d)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return v, fmt.Errorf(msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	funcs["toJson"] = toJSON
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) { return map[string]interface{}{}, nil }
	t.Funcs(funcs)

	var files []string
	filepath.Walk(filepath.Join(chartDir, "templates"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		rel, _ := filepath.Rel(filepath.Dir(chartDir), f)
		if _, err := t.New(rel).Parse(string(b)); err != nil {
			fmt.Fprintf(os.Stderr, "parse error: %v\n", err)
			os.Exit(1)
		}
	}
	failed := false
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Dir(chartDir), f)
		if strings.HasPrefix(filepath.Base(f), "_") {
			continue
		}
		var buf bytes.Buffer
		d := map[string]interface{}{}
		for k, v := range data {
			d[k] = v
		}
		d["Template"] = map[string]interface{}{"Name": rel, "BasePath": filepath.Join(name, "templates")}
		if err := t.ExecuteTemplate(&buf, rel, d); err != nil {
			fmt.Fprintf(os.Stderr, "render error: %v\n", err)
			failed = true
			continue
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(rel, "NOTES.txt") {
			fmt.Fprintf(os.Stderr, "%s\n", out)
			continue
		}
		if strings.TrimSpace(out) == "" {
			continue
		}
		fmt.Printf("---\n# Source: %s\n%s\n", rel, out)
	}
	if failed {
		os.Exit(1)
	}
}
