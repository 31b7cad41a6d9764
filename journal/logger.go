package journal

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// pebbleLogger routes Pebble's log lines into zap. Pebble's default logger
// writes to the standard library's log and calls os.Exit from Fatalf,
// which would skip our log flush and every deferred cleanup.
type pebbleLogger struct{ log *zap.Logger }

var _ pebble.Logger = pebbleLogger{}

// Infof logs at debug: Pebble narrates every WAL replay, flush and
// compaction, which is noise to an operator.
func (l pebbleLogger) Infof(format string, args ...any) {
	if ce := l.log.Check(zap.DebugLevel, "pebble"); ce != nil {
		ce.Write(zap.String("msg", fmt.Sprintf(format, args...)))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", zap.String("msg", fmt.Sprintf(format, args...)))
}

// Fatalf logs, flushes the log and panics. Pebble calls it only where
// carrying on could lose acknowledged data (a failed WAL write, a failed
// MANIFEST sync, a broken invariant), so it must not return; a panic
// instead of os.Exit leaves a stack trace and runs deferred cleanup.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble: fatal", zap.String("msg", msg))
	_ = l.log.Sync()
	panic("pebble: fatal: " + msg)
}
