import { expect } from 'chai';
import { PlatformMetrics } from '../../src/metrics/platform-metrics.js';

describe('metrics: the Prometheus registry', () => {
  it('exports the counted series and what the sources give at scrape time, labelled by app and process type only', async () => {
    const m = new PlatformMetrics();
    m.request('web-app', 'GET', 200, 0.01);
    m.request('web-app', 'BREW', 503, 0.2);
    m.deployEnded('web-app', 'failed', 12);
    m.deployEnded('web-app', 'succeeded', 30, 20);
    m.webhookAttempt('web-app', 'dropped');
    m.drainMessage('web-app', 'dropped', 3);
    m.setSources({
      instances: () => [
        { app: 'web-app', type: 'web', restarts: 2, pid: process.pid },
        { app: 'web-app', type: 'web', restarts: 1 },
        { app: 'web-app', type: 'worker', restarts: 0 },
      ],
      certificates: () => [
        { app: 'web-app', notAfter: 2_000_000_000_000 },
        { app: 'web-app', notAfter: 1_900_000_000_000 },
      ],
    });
    const { text, contentType } = await m.exposition();
    expect(contentType).to.match(/^text\/plain/);
    const lines = text.split('\n');
    const has = (line: string) => expect(lines, line).to.include(line);
    has('slipway_router_requests_total{app="web-app",method="GET",status_class="2xx"} 1');
    has('slipway_router_requests_total{app="web-app",method="OTHER",status_class="5xx"} 1');
    has('slipway_router_request_duration_seconds_count{app="web-app"} 2');
    // Buckets are cumulative, as Prometheus reads them: 0.01 s is in le=0.01, 0.2 s from le=0.25 on.
    has('slipway_router_request_duration_seconds_bucket{le="0.005",app="web-app"} 0');
    has('slipway_router_request_duration_seconds_bucket{le="0.01",app="web-app"} 1');
    has('slipway_router_request_duration_seconds_bucket{le="0.1",app="web-app"} 1');
    has('slipway_router_request_duration_seconds_bucket{le="0.25",app="web-app"} 2');
    has('slipway_router_request_duration_seconds_bucket{le="+Inf",app="web-app"} 2');
    has('slipway_router_request_duration_seconds_sum{app="web-app"} 0.21000000000000002');
    has('slipway_deploys_total{app="web-app",result="failed"} 1');
    has('slipway_deploys_total{app="web-app",result="succeeded"} 1');
    has('slipway_build_duration_seconds_count{app="web-app"} 1');
    has('slipway_webhook_deliveries_total{app="web-app",outcome="dropped"} 1');
    has('slipway_drain_messages_total{app="web-app",outcome="dropped"} 3');
    has('slipway_instances{app="web-app",process_type="web"} 2');
    has('slipway_instances{app="web-app",process_type="worker"} 1');
    has('slipway_instance_restarts{app="web-app",process_type="web"} 3');
    has('slipway_certificate_expiry_timestamp_seconds{app="web-app"} 1900000000');
    // This test's own process stands in for an instance: its memory is read from /proc.
    const memory = lines.find((l) => l.startsWith('slipway_instance_memory_bytes{app="web-app",process_type="web"}'));
    expect(Number(memory?.split(' ')[1])).to.be.greaterThan(1024 * 1024);
    // The dashboard's window saw the same requests.
    expect(m.recent.summary('web-app')).to.include({ total: 2, errorRate: 0.5 });
  });
});
