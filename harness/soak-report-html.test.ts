import { describe, expect, it } from 'vitest';
import { renderSoakHtml, timeUnit } from './soak-report-html.js';
import { soakResultFixture } from './soak-result-fixture.js';

const svgCount = (html: string, cls: string): number => html.split(`class="plot ${cls}"`).length - 1;

describe('soak HTML report', () => {
  it('has the verdict table and the RSS, FD, latency and throughput plots, and fetches nothing', () => {
    const html = renderSoakHtml(soakResultFixture({ leakBytesPerSec: 0, fdEverySample: 0 }));
    expect(html).toContain('<span class="pass">PASS</span>');
    expect(html).toContain('<table class="verdict">');
    for (const name of ['rss-growth', 'fd-growth', 'errors', 'lost', 'sustained-rate']) expect(html).toContain(`<td>${name}</td>`);
    expect(svgCount(html, 'rss-over-time')).toBe(1);
    expect(svgCount(html, 'fds-over-time')).toBe(1);
    expect(svgCount(html, 'p99-over-time')).toBe(1);
    expect(svgCount(html, 'throughput-over-time')).toBe(1);
    expect(html).toContain('data-series="p99"');
    expect(html).toContain('data-series="p50"');
    expect(html).toContain('data-series="RSS during warm-up"');
    expect(html).toContain('<a href="soak.hlog">');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toContain('<script');
  });

  it('shows FAIL with the reasons of a leaking target, and the trend line', () => {
    const html = renderSoakHtml(soakResultFixture({ leakBytesPerSec: 200_000, fdEverySample: 4 }));
    expect(html).toMatch(/<span class="bad">FAIL<\/span>: RSS growth \+\d+\.\d\d % after warm-up exceeds 5 %.*; FD growth \+\d+ exceeds 0/);
    expect(html).toMatch(/data-series="Theil–Sen trend of the (samples|baseline) \(\d+\.\d\d %\)"/);
    expect(html.match(/<tr class="failure">/g)).toHaveLength(2);
  });

  it('escapes what comes from the target', () => {
    const html = renderSoakHtml(soakResultFixture({ leakBytesPerSec: 0, fdEverySample: 0, name: '<img src=x onerror=alert(1)>' }));
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('picks the time unit from the span', () => {
    expect(timeUnit(80_000).name).toBe('seconds');
    expect(timeUnit(2 * 3_600_000).name).toBe('minutes');
    expect(timeUnit(24 * 3_600_000).name).toBe('hours');
  });
});
