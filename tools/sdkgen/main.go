// Command sdkgen generates the typed SDKs of the `ims` provider plugin from its schema with
// Pulumi's own code generators (github.com/pulumi/pulumi/pkg/v3/codegen): the same code
// `pulumi package gen-sdk` runs inside the language hosts, called directly because the
// language hosts available here do not implement GeneratePackage (docs: plugin-notes.md).
//
// Usage:
//
//	sdkgen -schema schema.json -out sdk [-version 0.4.0] [-lang python,nodejs,go]
//
// It writes OUT/python, OUT/nodejs and OUT/go, as packable SDKs (see run). Each language directory is replaced as a
// whole (written to a temporary sibling, then renamed), so files of an earlier schema never
// linger and an interrupted run leaves the previous SDK intact. The output is deterministic:
// the same schema gives byte-identical files.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver"
	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

// tool is the name the generators write into the "do not edit" banner of every file.
const tool = "ims-sdkgen"

// generators maps a language to its code generator.
var generators = map[string]func(*schema.Package) (map[string][]byte, error){
	"python": func(pkg *schema.Package) (map[string][]byte, error) {
		return python.GeneratePackage(tool, pkg, nil, selfContained{})
	},
	"nodejs": func(pkg *schema.Package) (map[string][]byte, error) {
		return nodejs.GeneratePackage(tool, pkg, nil, nil, false, selfContained{})
	},
	"go": func(pkg *schema.Package) (map[string][]byte, error) {
		return gogen.GeneratePackage(tool, pkg, nil)
	},
}

// languages are the schema language sections the generators read.
var languages = map[string]schema.Language{
	"python": python.Importer,
	"nodejs": nodejs.Importer,
	"go":     gogen.Importer,
}

// selfContained is the schema loader: the ims schema refers to no other package (only its own
// types and Pulumi's built-in ones), so any request to load one is an error in the schema, not
// a reason to start plugins or reach the network.
type selfContained struct{}

func (selfContained) refuse(name string) error {
	return fmt.Errorf("the schema refers to package %q: the ims schema must be self-contained", name)
}

func (l selfContained) LoadPackage(name string, _ *semver.Version) (*schema.Package, error) {
	return nil, l.refuse(name)
}

func (l selfContained) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, l.refuse(d.Name)
}

func (l selfContained) LoadPackageReference(name string, _ *semver.Version) (schema.PackageReference, error) {
	return nil, l.refuse(name)
}

func (l selfContained) LoadPackageReferenceV2(
	_ context.Context, d *schema.PackageDescriptor,
) (schema.PackageReference, error) {
	return nil, l.refuse(d.Name)
}

func main() {
	schemaPath := flag.String("schema", "", "the provider's schema (JSON); - for stdin")
	out := flag.String("out", "sdk", "output directory; one subdirectory per language")
	version := flag.String("version", "", "package version (default: the schema's version)")
	langs := flag.String("lang", "python,nodejs,go", "comma-separated languages to generate")
	flag.Parse()
	if *schemaPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: sdkgen -schema FILE -out DIR [-version V] [-lang python,nodejs,go]")
		os.Exit(2)
	}
	if err := run(*schemaPath, *out, *version, strings.Split(*langs, ",")); err != nil {
		fmt.Fprintf(os.Stderr, "sdkgen: %v\n", err)
		os.Exit(1)
	}
}

// run reads the schema, binds it and writes one SDK per language.
func run(schemaPath, out, version string, langs []string) error {
	raw, err := readInput(schemaPath)
	if err != nil {
		return err
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: not a Pulumi package schema: %w", schemaPath, err)
	}
	if version != "" {
		spec.Version = version
	}
	// Packable SDKs, as `pulumi package gen-sdk` writes them for a package that supports packing:
	// the Go SDK gets its go.mod (it could not be built without one) and the Python SDK carries its
	// version as a constant instead of reading it from the installed distribution's metadata (so
	// it also works from a source folder on PYTHONPATH).
	if spec.Meta == nil {
		spec.Meta = &schema.MetadataSpec{}
	}
	spec.Meta.SupportPack = true
	if spec.Version == "" {
		return errors.New("the schema has no version and -version is not given: generated SDKs " +
			"ask the engine for the plugin at their own version, so one is required")
	}
	for _, lang := range langs {
		gen, ok := generators[lang]
		if !ok {
			return fmt.Errorf("-lang %q: use python, nodejs or go", lang)
		}
		// Bind afresh per language: the generators record their language info in the package.
		pkg, err := schema.ImportSpec(spec, languages, selfContained{}, schema.ValidationOptions{})
		if err != nil {
			return fmt.Errorf("schema does not bind: %w", err)
		}
		files, err := gen(pkg)
		if err != nil {
			return fmt.Errorf("%s: %w", lang, err)
		}
		if err := writeTree(filepath.Join(out, lang), files, spec.Version); err != nil {
			return fmt.Errorf("%s: %w", lang, err)
		}
		fmt.Fprintf(os.Stderr, "sdkgen: %s SDK (%d files) in %s\n", lang, len(files), filepath.Join(out, lang))
	}
	return nil
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// writeTree replaces dir with files. The placeholder the Node.js generator leaves for a release
// pipeline (`${VERSION}` in package.json, when the schema does not set respectSchemaVersion) is
// filled with the version, so the package installs and asks for the plugin at that version.
func writeTree(dir string, files map[string][]byte, version string) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		content := files[name]
		if filepath.Base(name) == "package.json" {
			content = []byte(strings.ReplaceAll(string(content), "${VERSION}", version))
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
