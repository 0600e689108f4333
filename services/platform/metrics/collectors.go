package metrics

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermesh/ordermesh/services/platform/events/eventsdb"
)

// databases collects, for every service's database, the pool statistics
// and the outbox, read at scrape time.
type databases struct {
	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

// AddDatabase adds a service's database to what /metrics reports.
func (r *Registry) AddDatabase(service string, pool *pgxpool.Pool) {
	r.dbs.mu.Lock()
	defer r.dbs.mu.Unlock()
	r.dbs.pools[service] = pool
}

var (
	poolAcquired = prometheus.NewDesc("ordermesh_db_pool_acquired_connections", "Connections in use.", []string{"service"}, nil)
	poolIdle     = prometheus.NewDesc("ordermesh_db_pool_idle_connections", "Idle connections.", []string{"service"}, nil)
	poolMax      = prometheus.NewDesc("ordermesh_db_pool_max_connections", "Largest pool size.", []string{"service"}, nil)
	poolWaits    = prometheus.NewDesc("ordermesh_db_pool_empty_acquire_total", "Acquires that had to wait for a connection.", []string{"service"}, nil)
	poolWaitTime = prometheus.NewDesc("ordermesh_db_pool_acquire_wait_seconds_total", "Time spent waiting for connections.", []string{"service"}, nil)
)

var (
	outboxPending = prometheus.NewDesc("ordermesh_outbox_pending", "Deliveries waiting, by producer and subscriber.", []string{"service", "subscriber"}, nil)
	outboxOldest  = prometheus.NewDesc("ordermesh_outbox_oldest_pending_seconds", "Age of the oldest waiting delivery.", []string{"service", "subscriber"}, nil)
	outboxParked  = prometheus.NewDesc("ordermesh_outbox_parked", "Deliveries parked after too many failures.", []string{"service", "subscriber"}, nil)
)

// Describe implements prometheus.Collector.
func (d *databases) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{poolAcquired, poolIdle, poolMax, poolWaits, poolWaitTime, outboxPending, outboxOldest, outboxParked} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (d *databases) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	pools := maps.Clone(d.pools)
	d.mu.Unlock()
	for service, pool := range pools {
		s := pool.Stat()
		ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()), service)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()), service)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()), service)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()), service)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds(), service)
		outbox{service: service, pool: pool}.collect(ch)
	}
}

// outbox reports a producer's pending deliveries, the oldest pending age,
// and parked deliveries, per subscriber.
type outbox struct {
	service string
	pool    *pgxpool.Pool
}

func (c outbox) collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := eventsdb.New(c.pool).OutboxBySubscriber(ctx)
	if err != nil {
		rows = nil // an unreachable database reports zero rather than no series
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(outboxPending, prometheus.GaugeValue, float64(r.Pending), c.service, r.Subscriber)
		ch <- prometheus.MustNewConstMetric(outboxOldest, prometheus.GaugeValue, r.OldestPendingSeconds, c.service, r.Subscriber)
		ch <- prometheus.MustNewConstMetric(outboxParked, prometheus.GaugeValue, float64(r.Parked), c.service, r.Subscriber)
	}
	if len(rows) == 0 { // keep the series alive at zero
		ch <- prometheus.MustNewConstMetric(outboxPending, prometheus.GaugeValue, 0, c.service, "")
		ch <- prometheus.MustNewConstMetric(outboxOldest, prometheus.GaugeValue, 0, c.service, "")
		ch <- prometheus.MustNewConstMetric(outboxParked, prometheus.GaugeValue, 0, c.service, "")
	}
}
