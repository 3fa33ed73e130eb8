package config

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkParseDaemon measures loading the shipped virtxend.conf with every setting active.
func BenchmarkParseDaemon(b *testing.B) {
	data, err := os.ReadFile("virtxend.conf")
	if err != nil {
		b.Fatal(err)
	}
	data = []byte(uncomment(strings.Split(string(data), "\n"), func(string) bool { return true }))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseDaemon("virtxend.conf", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLongLine guards against work that grows with the square of a line's length.
func BenchmarkParseLongLine(b *testing.B) {
	data := []byte(strings.Repeat("a = 1; ", 1<<20/7))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("long.conf", data); err != nil {
			b.Fatal(err)
		}
	}
}
