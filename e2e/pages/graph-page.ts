/**
 * The Graph view (services and workloads as nodes, observed calls as edges, an edge's panel) and the Metrics view
 * (one service's rate, errors and latency charts). Page modules own every locator; specs only call these methods.
 */
import { expect, type Locator, type Page } from '@playwright/test';

export type Health = 'healthy' | 'degraded' | 'failing' | 'idle';
export type Mtls = 'mutual_tls' | 'none' | 'mixed';
export type WindowLabel = '1m' | '5m' | '15m' | '1h';

/** An end of an edge: an exact node id, or a prefix ("reviews-v" matches reviews-v1, -v2, -v3). */
export type End = string | { prefix: string };

const attr = (name: string, end: End): string =>
  typeof end === 'string' ? `[${name}="${end}"]` : `[${name}^="${end.prefix}"]`;

export class GraphPage {
  readonly view: Locator;
  readonly canvas: Locator;
  readonly empty: Locator;
  readonly error: Locator;
  readonly nodes: Locator;
  readonly edges: Locator;
  readonly panel: Locator;
  readonly panelClose: Locator;
  readonly showInTrafficButton: Locator;
  readonly injectFaultButton: Locator;
  readonly faultNote: Locator;
  readonly edgeRequests: Locator;
  readonly live: Locator;
  readonly count: Locator;

  constructor(readonly page: Page) {
    this.view = page.getByTestId('graph-view');
    this.canvas = page.getByTestId('graph-canvas');
    this.empty = page.getByTestId('graph-empty');
    this.error = page.getByTestId('graph-error');
    this.nodes = page.getByTestId('graph-node');
    this.edges = page.getByTestId('graph-edge');
    this.panel = page.getByTestId('graph-panel');
    this.panelClose = this.panel.getByTestId('graph-panel-close');
    this.showInTrafficButton = this.panel.getByTestId('graph-edge-traffic');
    this.injectFaultButton = this.panel.getByTestId('graph-edge-fault');
    this.faultNote = this.panel.getByTestId('graph-edge-fault-note');
    this.edgeRequests = this.panel.getByTestId('graph-edge-requests');
    this.live = page.getByTestId('graph-live');
    this.count = page.getByTestId('graph-count');
  }

  /** Open the view from the nav and wait for the graph, its empty state or its error. */
  async open(): Promise<void> {
    await this.page.getByTestId('nav-graph').click();
    await expect(this.view).toBeVisible();
    await expect(this.canvas.or(this.empty).or(this.error).first()).toBeVisible({ timeout: 15_000 });
  }

  async setWindow(w: WindowLabel): Promise<void> {
    const button = this.page.getByTestId(`graph-window-${w}`);
    await button.click();
    await expect(button).toHaveAttribute('aria-pressed', 'true');
  }

  edge(from: End, to: End): Locator {
    return this.page.locator(`[data-testid="graph-edge"]${attr('data-from', from)}${attr('data-to', to)}`);
  }

  node(id: string): Locator {
    return this.page.locator(`[data-testid="graph-node"][data-node="${id}"]`);
  }

  /** The box of a service (its workloads are drawn inside it). */
  service(name: string): Locator {
    return this.page.locator(`[data-testid="graph-service"][data-service="${name}"]`);
  }

  /** The edge shows up (the view refreshes live, so this waits for calls sent just before). */
  async expectEdge(from: End, to: End, opts: { mtls?: Mtls } = {}): Promise<void> {
    const e = this.edge(from, to).first();
    await expect(e, `edge ${JSON.stringify(from)} → ${JSON.stringify(to)}`).toBeVisible({ timeout: 20_000 });
    if (opts.mtls) await expect(e).toHaveAttribute('data-mtls', opts.mtls);
  }

  async expectNoEdge(from: End, to: End): Promise<void> {
    await expect(this.edge(from, to)).toHaveCount(0);
  }

  async expectNodeHealth(id: string, health: Health): Promise<void> {
    await expect(this.node(id)).toHaveAttribute('data-health', health);
  }

  /**
   * Close the open panel first, as a user would to see the whole graph again: an open panel narrows the canvas, and
   * the graph's right-hand side may lie under it.
   */
  private async closeOpenPanel(): Promise<void> {
    if ((await this.panel.count()) === 0) return;
    await this.panelClose.click();
    await expect(this.panel).toHaveCount(0);
  }

  /** Click an edge's label and wait for its own panel. */
  async openEdge(from: End, to: End): Promise<void> {
    await this.closeOpenPanel();
    const e = this.edge(from, to).first();
    const id = await e.getAttribute('data-edge');
    await e.click();
    await expect(this.panel).toBeVisible();
    await expect(this.panel).toHaveAttribute('data-kind', 'edge');
    await expect(this.panel).toHaveAttribute('data-id', id ?? '');
  }

  /** Click a node and wait for its own panel (its calls in and out). */
  async openNode(id: string): Promise<void> {
    await this.closeOpenPanel();
    await this.node(id).click();
    await expect(this.panel).toBeVisible();
    await expect(this.panel).toHaveAttribute('data-kind', 'node');
    await expect(this.panel).toHaveAttribute('data-id', id);
  }

  /** Keyboard: focus the edge's label, press Enter, and the panel opens with the focus in it. */
  async openEdgeWithKeyboard(from: End, to: End): Promise<void> {
    const e = this.edge(from, to).first();
    await e.focus();
    await expect(e).toBeFocused();
    const id = await e.getAttribute('data-edge');
    await this.page.keyboard.press('Enter');
    await expect(this.panel).toBeVisible();
    await expect(this.panel).toHaveAttribute('data-id', id ?? '');
    await expect(this.panel).toBeFocused();
  }

  /** Escape closes the panel and gives the focus back to the edge it came from. */
  async closePanelWithEscape(from: End, to: End): Promise<void> {
    await this.page.keyboard.press('Escape');
    await expect(this.panel).toHaveCount(0);
    await expect(this.edge(from, to).first()).toBeFocused();
  }

  /**
   * The workload and service boxes not wholly inside the canvas (cut off by its edges), by node id or service name;
   * [] when the whole graph is in view.
   */
  async boxesOutsideCanvas(): Promise<string[]> {
    return this.canvas.evaluate((canvas) => {
      const c = canvas.getBoundingClientRect();
      const out: string[] = [];
      const boxes = canvas.querySelectorAll<HTMLElement>('[data-testid="graph-node"], [data-testid="graph-service"]');
      for (const el of Array.from(boxes)) {
        const r = el.getBoundingClientRect();
        if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5)
          out.push(el.dataset.node ?? `service:${el.dataset.service ?? '?'}`);
      }
      return out;
    });
  }

  /** React Flow's viewport transform (pan and zoom), e.g. "translate(12px, 40px) scale(0.8)". */
  async viewTransform(): Promise<string> {
    return this.canvas.locator('.react-flow__viewport').evaluate((el) => (el as HTMLElement).style.transform);
  }

  /** Pan the view by hand: drag the empty pane from near the canvas's top edge. */
  async panBy(dx: number, dy: number): Promise<void> {
    const box = await this.canvas.boundingBox();
    if (!box) throw new Error('no graph canvas on screen');
    const x = box.x + box.width / 2;
    const y = box.y + 6;
    await this.page.mouse.move(x, y);
    await this.page.mouse.down();
    await this.page.mouse.move(x + dx / 2, y + dy / 2);
    await this.page.mouse.move(x + dx, y + dy);
    await this.page.mouse.up();
    await expect(this.canvas).toHaveAttribute('data-view', 'moved');
  }

  /** The canvas has handled its latest resize (re-fitted, or kept a view the user moved). */
  async expectResizeHandled(): Promise<void> {
    await expect
      .poll(() =>
        this.canvas.evaluate(
          (el) => (el as HTMLElement).dataset.settledWidth === String((el as HTMLElement).clientWidth)
        )
      )
      .toBe(true);
  }

  /** The Controls' "fit view" button. */
  async fitView(): Promise<void> {
    await this.canvas.locator('.react-flow__controls-fitview').click();
    await expect(this.canvas).toHaveAttribute('data-view', 'fitted');
  }

  async showInTraffic(): Promise<void> {
    await this.showInTrafficButton.click();
    await expect(this.page.getByTestId('nav-traffic')).toHaveAttribute('aria-current', 'page');
  }

  async injectFault(): Promise<void> {
    await expect(this.injectFaultButton).toBeEnabled();
    await this.injectFaultButton.click();
  }

  /** Open the Metrics of a service from its box in the graph. */
  async openServiceMetrics(service: string): Promise<void> {
    await this.service(service).getByTestId('graph-service-metrics').click();
  }

  /**
   * Every row of the Traffic list is a call from `caller` (the row's route reads "caller → …"), and there is at
   * least one. Reads the Traffic rows' route cells (the Traffic page module has no caller accessor yet).
   */
  async expectTrafficOnlyFrom(caller: string): Promise<void> {
    const rows = this.page.getByTestId('flow-row');
    await expect
      .poll(
        async () => {
          const routes = await rows.evaluateAll((els) =>
            els.map((e) => e.querySelector('.c-route')?.getAttribute('title') ?? '')
          );
          return routes.length > 0 && routes.every((r) => r.startsWith(`${caller} → `));
        },
        { message: `every Traffic row is a call from ${caller} (and at least one row)` }
      )
      .toBe(true);
  }
}

export class MetricsPage {
  readonly view: Locator;
  readonly service: Locator;
  readonly charts: Locator;
  readonly empty: Locator;
  readonly error: Locator;
  readonly rateChart: Locator;
  readonly errorChart: Locator;
  readonly latencyChart: Locator;
  readonly requests: Locator;

  constructor(readonly page: Page) {
    this.view = page.getByTestId('metrics-view');
    this.service = page.getByTestId('metrics-service');
    this.charts = page.getByTestId('metrics-charts');
    this.empty = page.getByTestId('metrics-empty');
    this.error = page.getByTestId('metrics-error');
    this.rateChart = page.getByTestId('metrics-chart-rate');
    this.errorChart = page.getByTestId('metrics-chart-errors');
    this.latencyChart = page.getByTestId('metrics-chart-latency');
    this.requests = page.getByTestId('metrics-summary-requests');
  }

  async open(service?: string): Promise<void> {
    await this.page.getByTestId('nav-metrics').click();
    await expect(this.view).toBeVisible();
    if (service !== undefined) await this.pick(service);
  }

  async pick(service: string): Promise<void> {
    await this.service.selectOption(service);
    await expect(this.service).toHaveValue(service);
  }

  async setWindow(w: WindowLabel): Promise<void> {
    const button = this.page.getByTestId(`metrics-window-${w}`);
    await button.click();
    await expect(button).toHaveAttribute('aria-pressed', 'true');
  }

  /** The y-axis tick labels a chart drew last (its canvas holds them; the chart notes them on data-y-ticks). */
  async yTicks(chart: Locator): Promise<string[]> {
    const text = await chart.getAttribute('data-y-ticks');
    return text ? text.split(' | ') : [];
  }

  /**
   * From now on, note the text each chart canvas draws (its axis labels; a multi-line label is drawn a line at a
   * time), kept per canvas from its last full redraw. Call before the charts are built (before open()).
   */
  async watchChartText(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as { __chartText?: WeakMap<HTMLCanvasElement, string[]> };
      if (w.__chartText) return;
      const drawn = new WeakMap<HTMLCanvasElement, string[]>();
      w.__chartText = drawn;
      const proto = CanvasRenderingContext2D.prototype;
      const { clearRect, fillText } = proto;
      proto.clearRect = function (x: number, y: number, width: number, height: number) {
        if (x === 0 && y === 0 && width >= this.canvas.width && height >= this.canvas.height)
          drawn.set(this.canvas, []);
        clearRect.call(this, x, y, width, height);
      };
      proto.fillText = function (text: string, x: number, y: number, maxWidth?: number) {
        const list = drawn.get(this.canvas) ?? [];
        drawn.set(this.canvas, list);
        list.push(String(text));
        if (maxWidth === undefined) fillText.call(this, text, x, y);
        else fillText.call(this, text, x, y, maxWidth);
      };
    });
  }

  /** The text a chart drew in its last redraw (see watchChartText). */
  async chartText(chart: Locator): Promise<string[]> {
    return chart
      .locator('canvas')
      .first()
      .evaluate(
        (c) =>
          (window as unknown as { __chartText?: WeakMap<HTMLCanvasElement, string[]> }).__chartText?.get(
            c as HTMLCanvasElement
          ) ?? []
      );
  }

  /** Point at the middle of a chart's plot; its legend then names the time under the pointer. */
  async hover(chart: Locator): Promise<void> {
    await chart.locator('.u-over').hover();
  }

  /** The time in a chart's legend (the x value under the pointer). */
  legendTime(chart: Locator): Locator {
    return chart.locator('.u-legend .u-series').first().locator('.u-value');
  }

  /** The charts of `service` are drawn with at least one bucket of requests (refreshed live). */
  async expectChartsWithData(service: string): Promise<void> {
    await expect(this.service).toHaveValue(service);
    await expect(this.charts).toHaveAttribute('data-service', service, { timeout: 20_000 });
    for (const chart of [this.rateChart, this.errorChart, this.latencyChart]) {
      await expect(chart.locator('canvas').first()).toBeVisible();
      await expect
        .poll(async () => Number(await chart.getAttribute('data-points')), { message: 'buckets with requests' })
        .toBeGreaterThan(0);
    }
    await expect.poll(async () => Number(await this.requests.textContent())).toBeGreaterThan(0);
  }
}
