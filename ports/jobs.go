package ports

import (
	"context"
	"errors"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// JobStore is implemented by transports that keep a results store on the
// broker (both adapters do): the records of every call whose caller asked
// for it (domain.Request.Record), written by the caller (its call record)
// and by the servers (each ack and result), so that replies outlive their
// caller. app.Server stores its replies there, app.Client its call
// records, and app.Jobs reads jobs back. A transport without it has no jobs.
//
// The store is an append-only log, bounded by age and by size (the oldest
// records go first), oldest first. Each record is at most a per-record
// size: a larger reply is stored without its result (domain.ClipRecord).
//
// All methods are safe for concurrent use, by many processes at once.
type JobStore interface {
	// StoreJob appends rec to the store and returns once the store has it
	// (on RabbitMQ: the broker's confirm), at most until ctx ends. A record
	// too large even clipped is refused with an error wrapping
	// ErrRecordTooLarge.
	StoreJob(ctx context.Context, rec domain.JobRecord) error

	// ScanJobs calls fn with the stored records, in stored order, starting
	// where s says (JobScan). Once it has passed every record stored before
	// ScanJobs was called it calls fn once with nil: then, unless s.Follow,
	// it returns. With s.Follow it goes on calling fn with each record
	// stored later, as it is stored, until ctx ends (it returns ctx's error)
	// or fn returns false. fn returning false before then stops it too. fn
	// is called from one goroutine at a time; rec is its own (it may keep
	// it, and must not modify its slices, which may be shared). Records that
	// cannot be read are skipped, each with one log line. Markers
	// (domain.RecordMark) never reach fn.
	//
	// first is true when the scan is known to have started at the first
	// entry the store keeps, so that fn saw every record stored before the
	// scan began: always with neither s.From nor s.Back, and with s.Back
	// when the store held no more than that.
	ScanJobs(ctx context.Context, s JobScan, fn func(rec *domain.JobRecord) bool) (first bool, err error)
}

// JobScan says where a scan of a results store starts, and whether it
// follows the store once it has caught up.
type JobScan struct {
	// From starts the scan at about this time by the store's clock
	// (records stored a little earlier may come too); the zero time at the
	// first record kept.
	From time.Time
	// Back, when positive, starts the scan instead about Back entries
	// before the store's end as the scan begins, or at the first entry kept
	// when it holds fewer: the newest part of the store, for readers that
	// want only the latest jobs. An entry is one record in memory, one
	// message of the stream on RabbitMQ (which may hold several records).
	Back int
	// Follow keeps the scan going after it has caught up (ScanJobs).
	Follow bool
}

// ErrRecordTooLarge: a record over the store's per-record limit, even
// clipped; it was not stored.
var ErrRecordTooLarge = errors.New("job record too large for the results store")

// JobStoreLimits are the bounds of a results store.
type JobStoreLimits struct {
	// MaxAge: records older than this are dropped (RabbitMQ: x-max-age,
	// applied a segment at a time).
	MaxAge time.Duration
	// MaxBytes bounds the store's total size: the oldest records are
	// dropped to stay under it (RabbitMQ: x-max-length-bytes, a segment at
	// a time). It is what keeps any one caller from growing the store
	// without bound.
	MaxBytes int64
	// MaxRecord bounds one record (domain.RecordSize).
	MaxRecord int
}

// Default bounds of a results store.
const (
	DefaultJobMaxAge    = 7 * 24 * time.Hour
	DefaultJobMaxBytes  = 512 << 20
	DefaultJobMaxRecord = 256 << 10
)

// WithDefaults returns l with its zero fields set to the defaults.
func (l JobStoreLimits) WithDefaults() JobStoreLimits {
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultJobMaxAge
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultJobMaxBytes
	}
	if l.MaxRecord <= 0 {
		l.MaxRecord = DefaultJobMaxRecord
	}
	return l
}
