package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/events/eventsdb"
	"github.com/ordermesh/ordermesh/internal/platform/logging"
)

// databases collects, at scrape time, every service's pool statistics and
// outbox. What cannot be read (the database is down) reports no sample,
// never a misleading 0, and counts a collection error instead; services'
// own scrape-time collectors count theirs through Registry.ReadFailed.
type databases struct {
	mu      sync.Mutex
	pools   map[string]*pgxpool.Pool
	subs    map[string][]string // producer → its subscribers
	serving atomic.Pointer[func(context.Context) map[string]bool]

	log    *slog.Logger
	errMu  sync.Mutex
	errors map[[2]string]float64           // service, source → failed reads
	logged map[[2]string]*logging.Throttle // service, source → its failures' log lines
}

// ReadTimeout bounds each scrape-time database read: a scrape that waits
// longer than Prometheus's own timeout reports nothing at all.
const ReadTimeout = 2 * time.Second

// failureLogEvery is how often one source's failing reads are logged.
const failureLogEvery = time.Minute

func newDatabases(log *slog.Logger) *databases {
	return &databases{pools: map[string]*pgxpool.Pool{}, subs: map[string][]string{}, log: log,
		errors: map[[2]string]float64{}, logged: map[[2]string]*logging.Throttle{}}
}

func (d *databases) add(service string, pool *pgxpool.Pool, subscribers []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pools[service] = pool
	d.subs[service] = subscribers
	d.countFailures(service, "outbox")
}

var (
	poolAcquired = prometheus.NewDesc("ordermesh_db_pool_acquired_connections", "Connections in use.", []string{"service"}, nil)
	poolIdle     = prometheus.NewDesc("ordermesh_db_pool_idle_connections", "Idle connections.", []string{"service"}, nil)
	poolMax      = prometheus.NewDesc("ordermesh_db_pool_max_connections", "Largest pool size.", []string{"service"}, nil)
	poolWaits    = prometheus.NewDesc("ordermesh_db_pool_empty_acquire_total", "Acquires that had to wait for a connection.", []string{"service"}, nil)
	poolWaitTime = prometheus.NewDesc("ordermesh_db_pool_acquire_wait_seconds_total", "Time spent waiting for connections.", []string{"service"}, nil)
	roundTrips   = prometheus.NewDesc("ordermesh_db_round_trips_total", "Round trips to PostgreSQL: statements sent alone and pipelined batches, BEGIN and COMMIT included.", []string{"service"}, nil)

	outboxPending = prometheus.NewDesc("ordermesh_outbox_pending", "Deliveries waiting, by producer (service) and subscriber.", []string{"service", "subscriber"}, nil)
	outboxOldest  = prometheus.NewDesc("ordermesh_outbox_oldest_pending_seconds", "Age of the oldest waiting delivery, by producer and subscriber; 0 when none waits.", []string{"service", "subscriber"}, nil)
	outboxParked  = prometheus.NewDesc("ordermesh_outbox_parked", "Deliveries parked after too many failures, by producer and subscriber.", []string{"service", "subscriber"}, nil)

	serving      = prometheus.NewDesc("ordermesh_service_serving", "1 when a service's readiness probe (its database) passes, 0 when not; the same cached result health checks and /readyz answer with.", []string{"grpc_service"}, nil)
	collectFails = prometheus.NewDesc("ordermesh_metrics_collection_errors_total", "Scrape-time reads that failed (their samples are missing), by service and source: outbox, orders.", []string{"service", "source"}, nil)
)

// Describe implements prometheus.Collector.
func (d *databases) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{poolAcquired, poolIdle, poolMax, poolWaits, poolWaitTime, roundTrips,
		outboxPending, outboxOldest, outboxParked, serving, collectFails} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (d *databases) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	pools, subs := maps.Clone(d.pools), maps.Clone(d.subs)
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
	defer cancel()
	for service, pool := range pools {
		s := pool.Stat()
		ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()), service)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()), service)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()), service)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()), service)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds(), service)
		ch <- prometheus.MustNewConstMetric(roundTrips, prometheus.CounterValue, float64(db.RoundTrips(pool)), service)
		rows, err := eventsdb.New(pool).OutboxBySubscriber(ctx)
		if err != nil {
			d.failed(service, "outbox", err)
			continue
		}
		// Every subscriber of the producer has its series, at 0 when
		// nothing waits for it.
		bySub := map[string]eventsdb.OutboxBySubscriberRow{}
		for _, sub := range subs[service] {
			bySub[sub] = eventsdb.OutboxBySubscriberRow{Subscriber: sub}
		}
		for _, r := range rows {
			bySub[r.Subscriber] = r
		}
		for sub, r := range bySub {
			ch <- prometheus.MustNewConstMetric(outboxPending, prometheus.GaugeValue, float64(r.Pending), service, sub)
			ch <- prometheus.MustNewConstMetric(outboxOldest, prometheus.GaugeValue, r.OldestPendingSeconds, service, sub)
			ch <- prometheus.MustNewConstMetric(outboxParked, prometheus.GaugeValue, float64(r.Parked), service, sub)
		}
	}
	if f := d.serving.Load(); f != nil {
		for name, ok := range (*f)(ctx) {
			v := 0.0
			if ok {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(serving, prometheus.GaugeValue, v, name)
		}
	}
	d.errMu.Lock()
	defer d.errMu.Unlock()
	for k, n := range d.errors {
		ch <- prometheus.MustNewConstMetric(collectFails, prometheus.CounterValue, n, k[0], k[1])
	}
}

// countFailures makes the failed reads of service's source a series
// from the start, at 0.
func (d *databases) countFailures(service, source string) {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	d.errors[[2]string{service, source}] += 0
}

// failed counts a failed read of service's source and logs why, at most
// once a minute per source, with how many failed since the last line.
func (d *databases) failed(service, source string, err error) {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	k := [2]string{service, source}
	d.errors[k]++
	l := d.logged[k]
	if l == nil {
		l = &logging.Throttle{Every: failureLogEvery}
		d.logged[k] = l
	}
	skipped, ok := l.Allow(time.Now())
	if !ok {
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", ReadTimeout, err)
	}
	d.log.Warn("metrics read failed; its samples are missing from this scrape", slog.String("service", service),
		slog.String("source", source), slog.Any("error", err), slog.Int("failed_unlogged", skipped))
}
