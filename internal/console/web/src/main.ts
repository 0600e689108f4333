// The operator's console: the mesh at a glance, orders by status and age,
// one order's saga as it happens, parked deliveries with a requeue button,
// and stock per SKU. It talks to the origin that serves it (the mesh under
// `make run`, or the gateway) with @ordermesh/client over
// @connectrpc/connect-web, as the signed-in merchant.
//
// Sign-in is a pasted bearer token kept in sessionStorage only: it is gone
// when the tab closes. `make run` prints a link that carries one in the
// URL's fragment (never sent to a server); it is moved to sessionStorage
// and removed from the address at once.
import "./console.css";
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { bearerAuth, catalogv1, commonv1, deliveryv1, eventsv1, inventoryv1, opsv1, orderv1 } from "@ordermesh/client";

const TOKEN_KEY = "ordermesh.token";
const REFRESH_MS = 2000;
// PAGE_SIZES are the orders list's page sizes; the first is the default.
const PAGE_SIZES = [50, 10, 25, 100];

const transport = createConnectTransport({
  baseUrl: location.origin,
  interceptors: [bearerAuth(() => sessionStorage.getItem(TOKEN_KEY) ?? "")],
});
const ops = createClient(opsv1.OpsService, transport);
const orders = createClient(orderv1.OrderService, transport);
const inventory = createClient(inventoryv1.InventoryService, transport);
const catalog = createClient(catalogv1.CatalogService, transport);

// --- DOM helpers: text only, never HTML, so nothing a customer typed can
// run in the operator's page.

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | ((e: Event) => void)> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") {
      el.addEventListener(k, v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else if (v !== false) {
      el.setAttribute(k, v);
    }
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) {
      el.append(c);
    }
  }
  return el;
}

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) {
    throw new Error(`the console has no #${id}`);
  }
  return el as T;
}

function table(headers: string[], rows: HTMLTableRowElement[], id: string, empty: string): HTMLElement {
  if (rows.length === 0) {
    return h("p", { id, class: "empty" }, empty);
  }
  return h("table", { id }, h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))), h("tbody", {}, ...rows));
}

function row(...cells: Child[]): HTMLTableRowElement {
  return h("tr", {}, ...cells.map((c) => h("td", {}, c)));
}

// --- Formatting.

function label(name: string | undefined, prefix: string): string {
  if (!name || name === "UNSPECIFIED" || name.endsWith("_UNSPECIFIED")) {
    return "";
  }
  // protobuf-es names enum values without their prefix; accept both.
  return (name.startsWith(prefix) ? name.slice(prefix.length) : name).toLowerCase();
}

const statusName = (s: orderv1.OrderStatus) => label(orderv1.OrderStatus[s], "ORDER_STATUS_");
const reasonName = (r: orderv1.StatusReason) => label(orderv1.StatusReason[r], "STATUS_REASON_");
const typeName = (t: eventsv1.EventType) => label(eventsv1.EventType[t], "EVENT_TYPE_");

// money formats an amount in minor units with its currency's own number of
// decimals (2 for EUR, 0 for JPY, 3 for KWD), as the Go side's money.Format.
function money(m: commonv1.Money | undefined): string {
  if (!m) {
    return "";
  }
  const f = new Intl.NumberFormat("en", { style: "currency", currency: m.currency });
  return f.format(Number(m.amountMinor) / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
}

function plural(n: number, one: string): string {
  return n === 1 ? `1 ${one}` : `${n} ${one}s`;
}

const upper = (name: string) => name.toUpperCase();

// describe words one step of a saga's timeline: what happened, and more
// when there is more (a decline message, the last delivery error, how long
// stock is held). The server sends the step as data.
function describe(e: opsv1.TimelineEntry): [what: string, detail: string] {
  const step = e.step;
  switch (step.case) {
    case "statusChange": {
      const c = step.value;
      const reason = reasonName(c.reason);
      return [upper(statusName(c.status)) + (reason ? ` (${reason})` : ""), c.detail];
    }
    case "reservation": {
      const r = step.value;
      const status = upper(label(inventoryv1.ReservationStatus[r.status], "RESERVATION_STATUS_"));
      if (r.lines.length === 0) {
        return [`reservation ${status}`, ""];
      }
      const lines = r.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", ");
      const what = r.status === inventoryv1.ReservationStatus.REJECTED ? `reservation REJECTED: ${lines}` : `reservation ${lines}`;
      return [what, r.expireTime ? `held until ${when(r.expireTime)} ${zone()}` : ""];
    }
    case "payment": {
      const op = step.value.operation;
      return [`${op?.kind ?? ""} ${money(step.value.amount)} ${op?.succeeded ? "succeeded" : "failed"}`, op?.message ?? ""];
    }
    case "delivery": {
      const d = step.value.delivery;
      if (!d) {
        return ["delivery", ""];
      }
      const route = `${upper(typeName(d.type))} ${step.value.producer} → ${d.subscriber}`;
      switch (d.state) {
        case deliveryv1.DeliveryState.DELIVERED:
          return [`${route}: delivered after ${plural(d.attempts, "attempt")}`, d.lastError];
        case deliveryv1.DeliveryState.PARKED:
          return [`${route}: PARKED after ${plural(d.attempts, "attempt")}; requeue it once the cause is fixed`, d.lastError];
        default: {
          let what = `${route}: pending`;
          if (d.attempts > 0) {
            what += `, ${plural(d.attempts, "attempt")} failed`;
          }
          if (d.nextAttemptTime) {
            what += `, next at ${when(d.nextAttemptTime)} ${zone()}`;
          }
          return [what, d.lastError];
        }
      }
    }
    case "bulkAction": {
      const a = step.value.action;
      return [`${step.value.outcome} by ${a?.operator ?? "?"}: ${a?.reason ?? ""}`, `bulk action ${a?.id ?? ""} on ${a?.matched ?? 0n} (${a?.filter ?? ""})`];
    }
    default:
      return ["(a step this console does not know; reload it)", ""];
  }
}

function date(t: Timestamp | undefined): Date {
  return t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)) : new Date(0);
}

// Every time the console shows is in one zone, UTC unless the operator
// chose their own (the header's switch, kept in localStorage).
const ZONE_KEY = "ordermesh.zone";
let local = localStorage.getItem(ZONE_KEY) === "local";

// zone names the zone times are shown in: "UTC", or the browser's zone.
function zone(): string {
  return local ? Intl.DateTimeFormat().resolvedOptions().timeZone : "UTC";
}

// clock formats a moment as "2026-12-06 18:20:36.123" in the chosen zone.
function clock(d: Date): string {
  if (!local) {
    return d.toISOString().replace("T", " ").replace("Z", "");
  }
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function when(t: Timestamp | undefined): string {
  return t ? clock(date(t)) : "";
}

function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function seconds(d: { seconds: bigint; nanos: number } | undefined): number {
  return d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : 0;
}

// parseDuration reads "90s", "10m", "1h30m" or "2d" into milliseconds.
function parseDuration(raw: string): number | undefined {
  const units: Record<string, number> = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 };
  const parts = raw.trim().match(/^(\d+[smhd])+$/) ? raw.trim().match(/\d+[smhd]/g) : null;
  if (!parts) {
    return undefined;
  }
  return parts.reduce((sum, p) => sum + Number(p.slice(0, -1)) * units[p.slice(-1)], 0);
}

// --- Errors: a failed call shows its Connect code and the server's
// message; a rejected token sends the operator back to sign in.

function showError(err: unknown): void {
  const e = ConnectError.from(err);
  if (e.code === Code.Unauthenticated) {
    sessionStorage.removeItem(TOKEN_KEY);
    signIn(`The mesh refused the token: ${e.rawMessage}`);
    return;
  }
  const box = byId("error");
  box.textContent = `${Code[e.code]}: ${e.rawMessage}`;
  box.hidden = false;
}

function clearError(): void {
  byId("error").hidden = true;
}

// --- Views. Each returns a function that stops its refreshing.

type View = (main: HTMLElement, arg: string) => () => void;

// every runs fn now and then every REFRESH_MS, one call at a time, until
// stopped; it shows the time of the last good refresh. now() runs it again
// at once (after the call in flight, if any), for a changed filter or page.
function every(fn: () => Promise<void>): (() => void) & { now: () => void } {
  let stopped = false;
  let running = false;
  let again = false;
  let timer: number | undefined;
  const tick = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    window.clearTimeout(timer);
    try {
      await fn();
      if (!stopped) {
        clearError();
        byId("live").textContent = `updated ${clock(new Date()).slice(11, 19)} ${zone()}`;
      }
    } catch (err) {
      if (!stopped) {
        showError(err);
      }
    }
    running = false;
    if (!stopped) {
      if (again) {
        again = false;
        void tick();
      } else {
        timer = window.setTimeout(tick, REFRESH_MS);
      }
    }
  };
  void tick();
  const stop = () => {
    stopped = true;
    window.clearTimeout(timer);
  };
  return Object.assign(stop, { now: () => { if (!stopped) void tick(); } });
}

// newRequestId makes a UUID for a bulk action's request id, from
// getRandomValues, which (unlike randomUUID) a console served over plain
// HTTP has too.
function newRequestId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// stopBulk stops a running bulk action; its progress shows it stopped.
async function stopBulk(id: string): Promise<void> {
  try {
    await ops.stopBulkAction({ id });
  } catch (err) {
    showError(err);
  }
}

// BulkWords word a bulk action: "cancel", "order", "orders", "cancelled".
type BulkWords = { verb: string; one: string; many: string; did: string };

const counted = (n: bigint, w: BulkWords) => `${n} ${n === 1n ? w.one : w.many}`;

// bulkDialog asks before a bulk action on everything a filter selects:
// it shows the server's dry run (how many, and the first of them), takes
// a reason, starts the action under a request id of its own, and shows
// its progress until it ends. open() reads the filter as it is then.
function bulkDialog(id: string, words: BulkWords, action: () => opsv1.StartBulkActionRequest["action"] | undefined, done: () => void): { box: HTMLElement; open: () => Promise<void>; close: () => void } {
  const box = h("div", { id: `${id}-confirm`, class: "confirm bulk", role: "alertdialog", hidden: true });
  let generation = 0;
  const close = () => {
    generation++;
    box.hidden = true;
  };
  const follow = async (started: opsv1.BulkAction, mine: number) => {
    const bar = h("progress", { id: `${id}-bar`, max: String(Number(started.matched) || 1), value: "0" });
    const text = h("p", { id: `${id}-progress`, role: "status" });
    const stop = h("button", { type: "button", id: `${id}-stop`, click: () => { void stopBulk(started.id); } }, "Stop");
    box.replaceChildren(h("p", {}, `Bulk action `, h("a", { href: "#/bulk" }, started.id), ` (${started.filter}):`), bar, text,
      h("p", {}, stop, " ", h("button", { type: "button", id: `${id}-close`, click: close }, "Close")));
    let a = started;
    for (;;) {
      bar.value = Number(a.done + a.skipped);
      const state = label(opsv1.BulkActionState[a.state], "BULK_ACTION_STATE_");
      text.textContent = `${a.done} of ${a.matched} ${words.did}, ${a.skipped} skipped: ${state}${a.stoppedBy ? ` by ${a.stoppedBy}` : ""}${a.error ? ` (${a.error})` : ""}`;
      text.dataset.state = state;
      stop.hidden = a.state !== opsv1.BulkActionState.RUNNING;
      if (a.state !== opsv1.BulkActionState.RUNNING || mine !== generation) {
        break;
      }
      await new Promise((r) => window.setTimeout(r, 500));
      a = (await ops.getBulkAction({ id: a.id })).action ?? a;
    }
    done();
  };
  const open = async () => {
    const chosen = action();
    if (!chosen) {
      return;
    }
    const mine = ++generation;
    const preview = await ops.startBulkAction({ action: chosen, dryRun: true, sampleSize: 5 });
    if (mine !== generation) {
      return;
    }
    const no = h("button", { type: "button", id: `${id}-no`, click: close }, preview.count > 0n ? (preview.count === 1n ? "Keep it" : "Keep them") : "Close");
    if (preview.count === 0n) {
      box.replaceChildren(h("p", { id: `${id}-count` }, `No ${words.many} to ${words.verb}: the filter (${preview.filter}) selects none.`), no);
      box.hidden = false;
      return;
    }
    const sample = [
      ...preview.sampleOrders.map((o) => h("li", {}, h("a", { href: `#/orders/${o.id}` }, o.id), ` ${statusName(o.status)}, ${o.userId}, ${money(o.total)}`)),
      ...preview.sampleDeliveries.map((p) => h("li", {}, `${typeName(p.delivery?.type ?? 0)} ${p.producer} → ${p.delivery?.subscriber ?? ""} of `,
        h("a", { href: `#/orders/${p.delivery?.orderId ?? ""}` }, p.delivery?.orderId ?? ""))),
    ];
    const rest = preview.count - BigInt(sample.length);
    const why = h("input", { id: `${id}-reason`, placeholder: "why (recorded with your name in each order's timeline)", size: "48" });
    const yes = h("button", { type: "button", id: `${id}-yes` }, `${words.verb[0].toUpperCase()}${words.verb.slice(1)} ${counted(preview.count, words)}`);
    yes.addEventListener("click", async () => {
      why.classList.toggle("invalid", why.value.trim().length < 3);
      if (why.classList.contains("invalid")) {
        return;
      }
      try {
        const res = await ops.startBulkAction({ action: chosen, reason: why.value.trim(), requestId: newRequestId() });
        if (res.action) await follow(res.action, mine);
      } catch (err) {
        showError(err);
      }
    });
    box.replaceChildren(
      h("p", { id: `${id}-count` }, `${counted(preview.count, words)} to ${words.verb} (${preview.filter}):`),
      h("ul", { id: `${id}-sample` }, ...sample, rest > 0n ? h("li", {}, `… and ${rest} more`) : null),
      ...preview.unavailable.map((u) => h("p", { class: "problem" }, `${u.service} could not be asked; its part is not counted: ${u.error}`)),
      h("p", {}, why, " ", yes, " ", no),
    );
    box.hidden = false;
  };
  return { box, open, close };
}

// --- Charts, drawn as SVG and divs through the DOM (the CSP allows no
// inline styles; sizes go through the CSSOM).

const SVG_NS = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

const minuteLabel = (m: opsv1.SummaryMinute) => clock(date(m.minute)).slice(11, 16);

// The charts' width, and their margins for the ticks.
const CHART_W = 720, CHART_LEFT = 34, CHART_BOTTOM = 18;

// frame starts a chart of values from 0 to top, H high: the SVG with its
// axis and its two ticks, and its y scale.
function frame(id: string, label: string, H: number, top: number): { chart: SVGSVGElement; y: (v: number) => number } {
  const y = (v: number) => H - CHART_BOTTOM - (v / top) * (H - CHART_BOTTOM - 8);
  const chart = svg("svg", { id, class: "chart", viewBox: `0 0 ${CHART_W} ${H}`, role: "img", "aria-label": label });
  chart.append(svg("line", { x1: CHART_LEFT, y1: y(0), x2: CHART_W, y2: y(0), class: "axis" }),
    svg("text", { x: CHART_LEFT - 4, y: y(top) + 4, class: "tick", "text-anchor": "end" }, String(top)),
    svg("text", { x: CHART_LEFT - 4, y: y(0), class: "tick", "text-anchor": "end" }, "0"));
  return { chart, y };
}

// outcomesChart draws orders per minute: the checkouts that ended, stacked
// by outcome, and the orders placed as a line over them.
function outcomesChart(minutes: opsv1.SummaryMinute[]): SVGSVGElement {
  const H = 150, n = Math.max(minutes.length, 1);
  const top = Math.max(1, ...minutes.map((m) => Math.max(Number(m.placed), Number(m.confirmed + m.rejected + m.cancelled))));
  const x = (i: number) => CHART_LEFT + (i * (CHART_W - CHART_LEFT)) / n;
  const bw = Math.max((CHART_W - CHART_LEFT) / n - 1, 1);
  const { chart, y } = frame("chart-outcomes", "orders per minute by outcome", H, top);
  minutes.forEach((m, i) => {
    const g = svg("g", { "data-minute": minuteLabel(m) });
    let base = 0;
    for (const [outcome, count] of [["confirmed", m.confirmed], ["rejected", m.rejected], ["cancelled", m.cancelled]] as const) {
      const v = Number(count);
      if (v > 0) {
        g.append(svg("rect", { x: x(i), y: y(base + v), width: bw, height: y(base) - y(base + v), class: outcome, "data-outcome": outcome, "data-count": v }));
      }
      base += v;
    }
    g.dataset.placed = String(m.placed);
    g.append(svg("title", {}, `${minuteLabel(m)} ${zone()}: ${m.placed} placed, ${m.confirmed} confirmed, ${m.rejected} rejected, ${m.cancelled} cancelled`));
    chart.append(g);
  });
  chart.append(svg("polyline", { class: "placed", points: minutes.map((m, i) => `${x(i) + bw / 2},${y(Number(m.placed))}`).join(" ") }));
  if (minutes.length > 0) {
    chart.append(svg("text", { x: CHART_LEFT, y: H - 4, class: "tick" }, minuteLabel(minutes[0])),
      svg("text", { x: CHART_W, y: H - 4, class: "tick", "text-anchor": "end" }, `${minuteLabel(minutes[minutes.length - 1])} ${zone()}`));
  }
  return chart;
}

// openChart draws the open orders at each minute's end as an area.
function openChart(minutes: opsv1.SummaryMinute[]): SVGSVGElement {
  const n = Math.max(minutes.length - 1, 1);
  const top = Math.max(1, ...minutes.map((m) => Number(m.open)));
  const x = (i: number) => CHART_LEFT + (i * (CHART_W - CHART_LEFT)) / n;
  const { chart, y } = frame("chart-open", "open orders", 110, top);
  const points = minutes.map((m, i) => `${x(i)},${y(Number(m.open))}`);
  if (minutes.length > 0) {
    chart.append(svg("polygon", { class: "open-area", points: [`${x(0)},${y(0)}`, ...points, `${x(minutes.length - 1)},${y(0)}`].join(" ") }),
      svg("polyline", { class: "open-line", points: points.join(" ") }));
    chart.dataset.last = String(minutes[minutes.length - 1].open);
  }
  return chart;
}

type Part = { value: number; cls: string; title: string };

// hbars draws a horizontal stacked bar per row, scaled to the largest
// row, with a note after it.
function hbars(id: string, rows: { key: string; label: string; parts: Part[]; note: string }[], empty: string): HTMLElement {
  if (rows.length === 0) {
    return h("p", { id, class: "empty" }, empty);
  }
  const most = Math.max(1, ...rows.map((r) => r.parts.reduce((a, p) => a + p.value, 0)));
  return h("div", { id, class: "hbars" }, ...rows.map((r) => {
    const stack = h("div", { class: "stack" });
    for (const p of r.parts) {
      if (p.value <= 0) continue;
      const el = h("div", { class: `part ${p.cls}`, title: p.title });
      el.style.width = `${(p.value / most) * 100}%`;
      stack.append(el);
    }
    const row = h("div", { class: "hbar" }, h("span", { class: "hbar-label" }, r.label), stack, h("span", { class: "hbar-note" }, r.note));
    row.dataset.key = r.key;
    return row;
  }));
}

const legend = (...items: [cls: string, text: string][]) =>
  h("p", { class: "legend" }, ...items.map(([cls, text]) => h("span", {}, h("i", { class: cls }), text)));

const summaryView: View = (main) => {
  const body = h("div", { id: "summary" });
  main.replaceChildren(h("h1", {}, "Summary"), body);
  return every(async () => {
    const s = await ops.getSummary({ minutes: 60, topSkus: 5 });
    const open = s.openOrders.map((c) => h("li", { "data-status": statusName(c.status) }, `${statusName(c.status)}: `, h("b", {}, String(c.count))));
    const oldest = s.oldestOpenOrderId
      ? h("p", { id: "summary-oldest" }, "Oldest open order: ", h("a", { href: `#/orders/${s.oldestOpenOrderId}` }, s.oldestOpenOrderId), `, open for ${age(seconds(s.oldestOpenAge))}`)
      : h("p", { id: "summary-oldest" }, "No order is open.");
    const queues = s.queues.map((q) => {
      const r = row(q.producer, q.subscriber, String(q.pending), seconds(q.lag) > 0 ? age(seconds(q.lag)) : "–",
        q.parked > 0n ? h("a", { href: "#/parked", class: "problem" }, String(q.parked)) : "0");
      r.dataset.queue = `${q.producer}-${q.subscriber}`;
      return r;
    });
    const depth = hbars("chart-queues", s.queues.map((q) => ({
      key: `${q.producer}-${q.subscriber}`, label: `${q.producer} → ${q.subscriber}`,
      parts: [{ value: Number(q.pending), cls: "pending", title: `${q.pending} pending` }, { value: Number(q.parked), cls: "parked", title: `${q.parked} parked` }],
      note: `${q.pending} pending${q.parked > 0n ? `, ${q.parked} parked` : ""}${seconds(q.lag) > 0 ? `, lag ${age(seconds(q.lag))}` : ""}`,
    })), "No queues.");
    const skus = hbars("chart-skus", s.busiestSkus.map((a) => ({
      key: a.sku, label: a.sku,
      parts: a.stock
        ? [{ value: Number(a.stock.available), cls: "available", title: `${a.stock.available} available` }, { value: Number(a.stock.reserved), cls: "reserved", title: `${a.stock.reserved} reserved` }]
        : [],
      note: `${plural(Number(a.units), "unit")} ordered; ${a.stock ? `${a.stock.available} available, ${a.stock.reserved} reserved` : "stock unknown"}`,
    })), "Nothing ordered in the last hour.");
    const last = s.minutes[s.minutes.length - 1];
    body.replaceChildren(
      h("h2", {}, "Open orders"), h("ul", { id: "summary-open" }, ...open), oldest,
      h("div", { class: "charts" },
        h("section", {}, h("h2", {}, "Orders per minute, last hour"), legend(["confirmed", "confirmed"], ["rejected", "rejected"], ["cancelled", "cancelled"], ["placed", "placed"]),
          outcomesChart(s.minutes)),
        h("section", {}, h("h2", {}, `Open orders, last hour${last ? `: ${last.open} now` : ""}`), openChart(s.minutes)),
        h("section", {}, h("h2", {}, "Queue depth"), legend(["pending", "pending"], ["parked", "parked"]), depth),
        h("section", {}, h("h2", {}, "Busiest SKUs' stock, last hour"), legend(["available", "available"], ["reserved", "reserved"]), skus)),
      h("h2", {}, "Event queues"),
      table(["Producer", "Subscriber", "Pending", "Lag", "Parked"], queues, "summary-queues", "No queues."),
      ...s.unavailable.map((u) => h("p", { class: "problem" }, `${u.service} could not be asked: ${u.error}`)),
    );
  });
};

const ordersView: View = (main) => {
  const statuses = Object.values(orderv1.OrderStatus).filter((v): v is orderv1.OrderStatus => typeof v === "number" && v !== 0);
  const reasons = Object.values(orderv1.StatusReason).filter((v): v is orderv1.StatusReason => typeof v === "number" && v !== 0);
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "any status"),
    ...statuses.map((s) => h("option", { value: String(s) }, statusName(s))));
  const reason = h("select", { id: "filter-reason" }, h("option", { value: "" }, "any reason"),
    ...reasons.map((r) => h("option", { value: String(r) }, reasonName(r))));
  const older = h("input", { id: "filter-older", placeholder: "open longer than, e.g. 10m", size: "22" });
  const sort = h("select", { id: "filter-sort" }, h("option", { value: "1" }, "newest first"), h("option", { value: "2" }, "oldest first"));
  const id = h("input", { id: "filter-id", placeholder: "order id starts with", size: "20", spellcheck: "false" });
  const customer = h("input", { id: "filter-customer", placeholder: "customer", size: "14", spellcheck: "false" });
  const sku = h("input", { id: "filter-sku", placeholder: "SKU", size: "10", spellcheck: "false" });
  // Paging: the tokens of the pages before this one, and this one's ("" is
  // the first). Changing the filter starts again at the first page.
  const before: string[] = [];
  let current = "";
  let next = "";
  const prev = h("button", { type: "button", id: "orders-prev", disabled: true }, "← Previous");
  const more = h("button", { type: "button", id: "orders-next", disabled: true }, "Next →");
  const count = h("span", { id: "orders-count" });
  const size = h("select", { id: "page-size" }, ...PAGE_SIZES.map((n) => h("option", { value: String(n) }, `${n} a page`)));
  const body = h("div", {});
  const form = h("form", { class: "filters", submit: (e: Event) => e.preventDefault() }, id, customer, sku, status, reason, older, sort);
  // filter is the form as a filter; undefined, with the field marked,
  // when a field cannot be read.
  const filter = (): opsv1.OrderFilter | undefined => {
    const f = create(opsv1.OrderFilterSchema, { orderIdPrefix: id.value.trim(), userId: customer.value.trim(), sku: sku.value.trim() });
    if (status.value) f.statuses = [Number(status.value) as orderv1.OrderStatus];
    if (reason.value) f.reasons = [Number(reason.value) as orderv1.StatusReason];
    older.classList.remove("invalid");
    id.classList.toggle("invalid", !/^[0-9a-fA-F-]*$/.test(f.orderIdPrefix));
    if (id.classList.contains("invalid")) {
      return undefined;
    }
    if (older.value.trim()) {
      const ms = parseDuration(older.value);
      if (ms === undefined) {
        older.classList.add("invalid");
        return undefined;
      }
      f.openLongerThan = { $typeName: "google.protobuf.Duration", seconds: BigInt(Math.floor(ms / 1000)), nanos: 0 };
    }
    return f;
  };
  let refresh = () => {};
  // Cancelling everything the filter selects is done by the server on the
  // filter, after a dry run and a confirmation.
  const bulk = bulkDialog("bulk-cancel", { verb: "cancel", one: "order", many: "orders", did: "cancelled" }, () => {
    const f = filter();
    return f ? { case: "cancelOrders", value: f } : undefined;
  }, () => refresh());
  const cancelAll = h("button", { type: "button", id: "orders-cancel-all", click: () => { void bulk.open().catch(showError); } }, "Cancel all matching…");
  main.replaceChildren(h("h1", {}, "Orders"), form, h("p", { class: "pager" }, prev, more, size, count, cancelAll), bulk.box, body);
  const restart = () => {
    before.length = 0;
    current = "";
    bulk.close();
    refresh();
  };
  form.addEventListener("input", restart);
  form.addEventListener("change", restart);
  size.addEventListener("change", restart);
  prev.addEventListener("click", () => {
    current = before.pop() ?? "";
    refresh();
  });
  more.addEventListener("click", () => {
    if (next) {
      before.push(current);
      current = next;
      refresh();
    }
  });
  const stop = every(async () => {
    const f = filter();
    if (!f) {
      return;
    }
    const req = create(opsv1.ListOrdersRequestSchema, {
      pageSize: Number(size.value), pageToken: current, sort: Number(sort.value) as opsv1.OrderSort,
      orderIdPrefix: f.orderIdPrefix, userId: f.userId, sku: f.sku, statuses: f.statuses, reasons: f.reasons, openLongerThan: f.openLongerThan,
    });
    const res = await ops.listOrders(req);
    if (req.pageToken !== current) {
      return; // the operator paged or filtered meanwhile; that answer comes next
    }
    next = res.nextPageToken;
    prev.disabled = before.length === 0;
    more.disabled = next === "";
    const first = before.length * req.pageSize;
    count.textContent = res.orders.length === 0
      ? `0 of ${res.totalCount} orders`
      : `${first + 1}–${first + res.orders.length} of ${res.totalCount} orders`;
    const now = Date.now();
    const rows = res.orders.map((o) => {
      const r = row(h("a", { href: `#/orders/${o.id}` }, o.id), statusName(o.status), reasonName(o.reason), o.userId, money(o.total),
        when(o.createTime), age(now - date(o.createTime).getTime()));
      r.dataset.order = o.id;
      r.dataset.status = statusName(o.status);
      return r;
    });
    body.replaceChildren(
      table(["Order", "Status", "Reason", "Customer", "Total", `Placed (${zone()})`, "Age"], rows, "orders-table", "No order matches."),
    );
  });
  refresh = stop.now;
  return stop;
};

// waterfall draws a saga over time: a lane per service, a bar per step
// from its start to its end (a status until the next one, a reservation
// until it is settled, a delivery from its event's production until it was
// taken or parked, a payment call at its moment), failed steps marked.
function waterfall(tl: opsv1.GetSagaTimelineResponse, now: number): HTMLElement {
  const o = tl.order;
  const start = date(o?.createTime).getTime();
  type Bar = { lane: string; from: number; to: number; label: string; failed: boolean };
  const bars: Bar[] = [];
  const ms = (t: Timestamp | undefined) => (t ? date(t).getTime() : undefined);
  const over = o !== undefined && TERMINAL.has(o.status);
  const entries = tl.entries;
  let end = start;
  for (const e of entries) {
    end = Math.max(end, ms(e.time) ?? start);
    if (e.step.case === "delivery") {
      const d = e.step.value.delivery;
      end = Math.max(end, ms(d?.deliverTime) ?? 0, ms(d?.parkTime) ?? 0);
    }
  }
  if (!over) end = Math.max(end, now);
  const next = (i: number, same: (e: opsv1.TimelineEntry) => boolean) => {
    const later = entries.slice(i + 1).find(same);
    return later ? ms(later.time) ?? end : end;
  };
  entries.forEach((e, i) => {
    const at = ms(e.time) ?? start;
    const [what] = describe(e);
    switch (e.step.case) {
      case "statusChange":
        bars.push({ lane: "order", from: at, to: next(i, (x) => x.step.case === "statusChange"), label: what, failed: e.problem });
        break;
      case "reservation":
        bars.push({ lane: "inventory", from: at, to: next(i, (x) => x.step.case === "reservation"), label: what, failed: e.problem });
        break;
      case "payment":
        bars.push({ lane: "payment", from: at, to: at, label: what, failed: !e.step.value.operation?.succeeded });
        break;
      case "bulkAction":
        bars.push({ lane: e.service, from: at, to: at, label: what, failed: false });
        break;
      case "delivery": {
        const d = e.step.value.delivery;
        if (d) {
          const done = ms(d.deliverTime) ?? ms(d.parkTime) ?? end;
          bars.push({ lane: d.subscriber, from: ms(d.createTime) ?? at, to: done, label: what, failed: e.problem });
        }
        break;
      }
    }
  });
  const span = Math.max(end - start, 1);
  const lanes = ["order", "inventory", "payment", "cart", "operator"].filter((l) => bars.some((b) => b.lane === l));
  for (const b of bars) {
    if (!lanes.includes(b.lane)) lanes.push(b.lane);
  }
  return h("div", { id: "waterfall", class: "waterfall" },
    h("div", { class: "lane axis" }, h("span", { class: "lane-name" }, ""),
      h("div", { class: "track" }, h("span", {}, "+0s"), h("span", { class: "axis-end" }, `+${(span / 1000).toFixed(3)}s`))),
    ...lanes.map((lane) => {
      // Steps of a lane that overlap in time go on rows of their own, each
      // on the first row free at its start (a bar is at least 1% wide).
      const rows: { end: number; track: HTMLElement }[] = [];
      const minimum = span / 100;
      for (const b of bars.filter((x) => x.lane === lane).sort((x, y) => x.from - y.from)) {
        let free = rows.find((r) => r.end <= b.from);
        if (!free) {
          free = { end: 0, track: h("div", { class: "track" }) };
          rows.push(free);
        }
        free.end = Math.max(b.to, b.from + minimum);
        const el = h("div", { class: b.failed ? "span failed" : "span", title: `${b.label} (${((b.to - b.from) / 1000).toFixed(3)}s)` });
        // Positioned through the CSSOM: the CSP allows no inline styles.
        el.style.left = `${((b.from - start) / span) * 100}%`;
        el.style.width = `${((b.to - b.from) / span) * 100}%`;
        free.track.append(el);
      }
      const r = h("div", { class: "lane" }, h("span", { class: "lane-name" }, lane), h("div", { class: "tracks" }, ...rows.map((x) => x.track)));
      r.dataset.lane = lane;
      return r;
    }));
}

const TERMINAL = new Set([orderv1.OrderStatus.CONFIRMED, orderv1.OrderStatus.SHIPPED, orderv1.OrderStatus.REJECTED, orderv1.OrderStatus.CANCELLED]);

const timelineView: View = (main, id) => {
  const head = h("div", { id: "timeline-head" });
  const body = h("div", {});
  const cancel = h("form", { id: "cancel-form", class: "filters" });
  main.replaceChildren(h("h1", {}, "Order ", h("code", {}, id)), head, cancel, h("p", { id: "timeline-result", role: "status" }), body);
  let stopped = false;
  const controller = new AbortController();

  const render = async () => {
    const tl = await ops.getSagaTimeline({ orderId: id });
    const o = tl.order;
    if (!o || stopped) {
      return;
    }
    const status = statusName(o.status) + (o.reason ? ` (${reasonName(o.reason)})` : "");
    head.replaceChildren(
      h("p", {}, "Status: ", h("b", { id: "timeline-status", "data-status": statusName(o.status) }, status)),
      h("p", {}, `Customer ${o.userId} · ${money(o.total)} · placed ${when(o.createTime)} ${zone()} · `,
        o.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", ")),
      ...(tl.traceId
        ? [h("p", { id: "timeline-trace" }, "Trace ", h("code", {}, tl.traceId),
          tl.traceUrl ? h("span", {}, " · ", h("a", { href: tl.traceUrl, target: "_blank", rel: "noopener noreferrer", id: "open-trace" }, "open trace")) : null)]
        : []),
      ...tl.unavailable.map((u) => h("p", { class: "problem" }, `${u.service} could not be asked; its part is missing: ${u.error}`)),
    );
    const placed = date(o.createTime).getTime();
    const rows = tl.entries.map((e) => {
      const [what, detail] = describe(e);
      const r = row(when(e.time), `+${((date(e.time).getTime() - placed) / 1000).toFixed(3)}s`, e.service, what, detail, requeueButton(e));
      r.dataset.kind = e.step.case ?? "";
      if (e.problem) r.classList.add("problem");
      return r;
    });
    body.replaceChildren(waterfall(tl, Date.now()), table([`Time (${zone()})`, "After", "Service", "What", "Detail", ""], rows, "timeline", "Nothing yet."));
    cancel.hidden = TERMINAL.has(o.status) && o.status !== orderv1.OrderStatus.CONFIRMED;
  };

  // A parked delivery gets a button that requeues it, and only it; the
  // timeline then shows it pending again, and delivered.
  const requeueButton = (e: opsv1.TimelineEntry): HTMLElement | null => {
    if (e.step.case !== "delivery") {
      return null;
    }
    const producer = e.step.value.producer;
    const d = e.step.value.delivery;
    if (!d || d.state !== deliveryv1.DeliveryState.PARKED) {
      return null;
    }
    return h("button", {
      type: "button", class: "requeue", "data-event": d.eventId,
      click: async () => {
        try {
          const res = await ops.requeueParkedDeliveries({ filter: { producer, subscriber: d.subscriber }, eventIds: [d.eventId] });
          byId("timeline-result").textContent = res.requeued > 0n
            ? `Requeued the ${typeName(d.type)} delivery to ${d.subscriber}.`
            : "Nothing was requeued: it is no longer parked.";
          await render();
        } catch (err) {
          showError(err);
        }
      },
    }, "Requeue");
  };

  const why = h("input", { id: "cancel-reason", placeholder: "why (recorded with your name)", size: "40" });
  cancel.replaceChildren(why, h("button", { type: "submit", id: "cancel-order" }, "Cancel order"));
  cancel.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await ops.cancelOrder({ orderId: id, reason: why.value });
      why.value = "";
      await render();
    } catch (err) {
      showError(err);
    }
  });

  // Follow the order live with WatchOrder until its saga is over; every
  // change re-reads the timeline. The deliveries after the last change
  // (to Cart, to Payment) still land: keep refreshing while the view is
  // open.
  const follow = async () => {
    try {
      for await (const msg of orders.watchOrder({ orderId: id }, { signal: controller.signal })) {
        await render();
        if (msg.order && TERMINAL.has(msg.order.status)) {
          break;
        }
      }
    } catch (err) {
      if (!stopped) showError(err);
    }
  };
  void follow();
  const stopPolling = every(render);
  return () => {
    stopped = true;
    controller.abort();
    stopPolling();
  };
};

const parkedView: View = (main) => {
  const producer = h("select", { id: "parked-producer" }, h("option", { value: "" }, "every producer"),
    ...["order", "inventory", "payment"].map((p) => h("option", { value: p }, p)));
  const subscriber = h("select", { id: "parked-subscriber" }, h("option", { value: "" }, "every subscriber"),
    ...["order", "inventory", "payment", "cart"].map((p) => h("option", { value: p }, p)));
  const result = h("p", { id: "requeue-result" });
  const body = h("div", {});
  const filter = () => create(opsv1.DeliveryFilterSchema, { producer: producer.value, subscriber: subscriber.value });
  let refresh = async () => {};
  const requeue = async (req: opsv1.RequeueParkedDeliveriesRequest) => {
    try {
      const res = await ops.requeueParkedDeliveries(req);
      result.textContent = `Requeued ${res.requeued}.`;
      await refresh();
    } catch (err) {
      showError(err);
    }
  };
  // Requeueing everything the filter selects is done by the server on the
  // filter, as a bulk action: asked about first, how many and which.
  const bulk = bulkDialog("requeue", { verb: "requeue", one: "parked delivery", many: "parked deliveries", did: "requeued" },
    () => ({ case: "requeueDeliveries", value: filter() }), () => { void refresh().catch(showError); });
  const confirmBox = bulk.box;
  const all = h("button", { type: "button", id: "requeue-all", click: () => { void bulk.open().catch(showError); } }, "Requeue all matching…");
  const filters = h("form", { class: "filters", submit: (e: Event) => e.preventDefault() }, producer, subscriber, all);
  filters.addEventListener("change", bulk.close);
  main.replaceChildren(h("h1", {}, "Parked events"),
    h("p", { class: "hint" }, "Deliveries the relays gave up on after their attempts. Fix the cause, then requeue: their attempts start again."),
    filters, confirmBox, result, body);
  refresh = async () => {
    const res = await ops.listParkedDeliveries({ filter: filter(), pageSize: 200 });
    const rows = res.deliveries.map((p) => {
      const d = p.delivery as deliveryv1.ParkedDelivery;
      const button = h("button", {
        type: "button", class: "requeue",
        click: () => requeue(create(opsv1.RequeueParkedDeliveriesRequestSchema, {
          filter: { producer: p.producer, subscriber: d.subscriber }, eventIds: [d.eventId],
        })),
      }, "Requeue");
      const r = row(p.producer, d.subscriber, typeName(d.type), h("a", { href: `#/orders/${d.orderId}` }, d.orderId), String(d.attempts),
        when(d.parkTime), d.lastError, button);
      r.dataset.event = d.eventId;
      return r;
    });
    all.hidden = rows.length === 0;
    body.replaceChildren(
      table(["Producer", "Subscriber", "Event", "Order", "Attempts", `Parked (${zone()})`, "Last error", ""], rows, "parked-table", "Nothing is parked."),
      ...res.unavailable.map((u) => h("p", { class: "problem" }, `${u.service} could not be asked: ${u.error}`)),
    );
  };
  return every(() => refresh());
};

// bulkView lists the bulk actions, newest first, with their progress.
const bulkView: View = (main) => {
  const body = h("div", {});
  main.replaceChildren(h("h1", {}, "Bulk actions"),
    h("p", { class: "hint" }, "Cancels and requeues of everything a filter selected: who, why, the filter, and how far each got. Start one from the Orders or Parked events view."),
    body);
  const ticker = every(async () => {
    const res = await ops.listBulkActions({ pageSize: 50 });
    const rows = res.actions.map((a) => {
      const bar = h("progress", { max: String(Number(a.matched) || 1), value: String(Number(a.done + a.skipped)) });
      const state = label(opsv1.BulkActionState[a.state], "BULK_ACTION_STATE_");
      const stop = a.state === opsv1.BulkActionState.RUNNING
        ? h("button", { type: "button", class: "stop", click: async () => { await stopBulk(a.id); ticker.now(); } }, "Stop")
        : null;
      const r = row(when(a.createTime), label(opsv1.BulkActionKind[a.kind], "BULK_ACTION_KIND_").replace("_", " "),
        a.stoppedBy ? `${state} by ${a.stoppedBy}` : state, a.operator,
        h("span", {}, bar, ` ${a.done} of ${a.matched}`), String(a.skipped), a.filter, a.reason, a.error, stop);
      r.dataset.action = a.id;
      r.dataset.state = state;
      if (a.state === opsv1.BulkActionState.FAILED) r.classList.add("problem");
      return r;
    });
    body.replaceChildren(table([`Started (${zone()})`, "Action", "State", "Operator", "Done", "Skipped", "Filter", "Reason", "Error", ""], rows, "bulk-table", "No bulk action yet."));
  });
  return ticker;
};

const stockView: View = (main) => {
  const body = h("div", {});
  main.replaceChildren(h("h1", {}, "Stock"), body);
  return every(async () => {
    const products: catalogv1.Product[] = [];
    let pageToken = "";
    do {
      const page = await catalog.listProducts({ pageSize: 100, pageToken });
      products.push(...page.products);
      pageToken = page.nextPageToken;
    } while (pageToken);
    const stock = new Map<string, inventoryv1.Stock>();
    for (let i = 0; i < products.length; i += 100) {
      const res = await inventory.batchGetStock({ skus: products.slice(i, i + 100).map((p) => p.sku) });
      for (const s of res.stocks) stock.set(s.sku, s);
    }
    const rows = products.map((p) => {
      const s = stock.get(p.sku);
      const r = row(p.sku, p.name, s ? String(s.available) : "–", s ? String(s.reserved) : "–", s ? String(s.sold) : "–", when(s?.updateTime));
      r.dataset.sku = p.sku;
      return r;
    });
    body.replaceChildren(table(["SKU", "Name", "Available", "Reserved", "Sold", `Updated (${zone()})`], rows, "stock-table", "The catalog is empty."));
  });
};

// salesView draws what sold: a bar per UTC day of the window (per
// currency), the window's totals, and the top sellers.
const salesView: View = (main) => {
  const days = h("select", { id: "sales-days" }, ...[7, 30, 90].map((d) => h("option", { value: String(d) }, `last ${d} days`)));
  const body = h("div", {});
  main.replaceChildren(h("h1", {}, "Sales"),
    h("p", { class: "hint" }, "Confirmed and shipped orders, by the UTC day they were placed; revenue is the orders' totals, shipping included."),
    h("form", { class: "filters", submit: (e: Event) => e.preventDefault() }, days), body);
  const ticker = every(async () => {
    const to = new Date();
    const from = new Date(to.getTime() - Number(days.value) * 86_400_000);
    const res = await ops.getSalesFigures({ from: timestampFromDate(from), to: timestampFromDate(to), top: 10 });
    // Bars compare within a currency only.
    const most = new Map<string, bigint>();
    for (const d of res.days) {
      const c = d.revenue?.currency ?? "";
      const a = d.revenue?.amountMinor ?? 0n;
      if (a > (most.get(c) ?? 0n)) most.set(c, a);
    }
    const bars = res.days.map((d) => {
      const c = d.revenue?.currency ?? "";
      const a = d.revenue?.amountMinor ?? 0n;
      const top = most.get(c) ?? 0n;
      const pct = top > 0n ? Number((a * 1000n) / top) / 10 : 0;
      const bar = h("div", { class: "bar", title: money(d.revenue) });
      bar.style.width = `${pct}%`; // through the CSSOM: the CSP allows no inline style attribute
      const r = row(date(d.day).toISOString().slice(0, 10), String(d.orders), String(d.units), money(d.revenue), bar);
      r.dataset.day = date(d.day).toISOString().slice(0, 10);
      return r;
    });
    const sellers = res.topSellers.map((p) => {
      const r = row(p.sku, p.name, String(p.units), String(p.orders), money(p.revenue));
      r.dataset.sku = p.sku;
      return r;
    });
    body.replaceChildren(
      h("p", { id: "sales-total" }, `${plural(Number(res.orders), "order")}, ${plural(Number(res.units), "unit")}, `,
        res.revenue.length ? res.revenue.map(money).join(" + ") : "no revenue"),
      table(["Day (UTC)", "Orders", "Units", "Revenue", ""], bars, "sales-days-table", "Nothing sold."),
      h("h2", {}, "Top sellers"),
      table(["SKU", "Name", "Units", "Orders", "Revenue"], sellers, "sales-top", "Nothing sold."),
    );
  });
  days.addEventListener("change", () => ticker.now());
  return ticker;
};

// --- Sign-in and routing.

function signIn(message = ""): void {
  stopView();
  byId("nav").hidden = true;
  const token = h("textarea", { id: "token", rows: "4", cols: "70", placeholder: "eyJhbGciOi…", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { id: "sign-in" },
    h("p", {}, "Paste a merchant's bearer token. It is kept in this tab's session storage only. ",
      h("code", {}, "make token ROLE=merchant"), " prints one for a development mesh."),
    token, h("p", {}, h("button", { type: "submit" }, "Sign in")),
    message ? h("p", { class: "problem", id: "sign-in-error" }, message) : null);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = token.value.trim().replace(/^Bearer\s+/i, "");
    if (value) {
      sessionStorage.setItem(TOKEN_KEY, value);
      route();
    }
  });
  byId("view").replaceChildren(h("h1", {}, "Sign in"), form);
}

let stopView = () => {};

function route(): void {
  stopView();
  clearError();
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    signIn();
    return;
  }
  byId("nav").hidden = false;
  const [, name = "summary", arg = ""] = location.hash.split("/");
  const views: Record<string, View> = { summary: summaryView, orders: arg ? timelineView : ordersView, parked: parkedView, bulk: bulkView, stock: stockView, sales: salesView };
  const view = views[name] ?? summaryView;
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("current", a.id === `nav-${name}`);
  }
  stopView = view(byId("view"), decodeURIComponent(arg));
}

function start(): void {
  // A token in the fragment (make run's link) moves to session storage.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search + "#/summary");
  }
  byId("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    signIn();
  });
  const zones = byId<HTMLSelectElement>("zone");
  zones.value = local ? "local" : "utc";
  zones.addEventListener("change", () => {
    local = zones.value === "local";
    localStorage.setItem(ZONE_KEY, zones.value);
    // The view again in the new zone: refreshed in place where it can be
    // (its filters and page kept), else drawn anew.
    const refresh = (stopView as { now?: () => void }).now;
    if (refresh) {
      refresh();
    } else {
      route();
    }
  });
  window.addEventListener("hashchange", route);
  route();
}

start();
