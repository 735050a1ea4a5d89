// A small inline-SVG line chart of viewers over time, built with DOM APIs (no markup strings), for
// the stream history. samples: [[t_ms, viewers], …] oldest first.

const kSvgNs = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs = {}) {
  const el = document.createElementNS(kSvgNs, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function viewersChart(samples, { width = 160, height = 40, label = 'Viewers over time' } = {}) {
  const points = (samples || [])
    .map(([t, v]) => [Number(t), Math.max(0, Number(v) || 0)])
    .filter(([t]) => Number.isFinite(t));
  const peak = points.reduce((m, [, v]) => Math.max(m, v), 0);
  const svg = svgEl('svg', {
    class: 'spark',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    preserveAspectRatio: 'none',
  });
  const title = svgEl('title');
  svg.append(title);
  if (points.length < 2) {
    title.textContent = `${label}: not enough samples`;
    svg.append(svgEl('line', { class: 'spark-base', x1: 0, y1: height - 1, x2: width, y2: height - 1 }));
    return svg;
  }
  const t0 = points[0][0];
  const span = Math.max(1, points[points.length - 1][0] - t0);
  const top = Math.max(1, peak);
  const pad = 2;
  const xy = points.map(([t, v]) => [
    ((t - t0) / span) * width,
    height - pad - (v / top) * (height - 2 * pad),
  ]);
  const line = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  const minutes = Math.max(1, Math.round(span / 60000));
  title.textContent = `${label}: peak ${peak}, ${points.length} samples over ${minutes} min`;
  svg.append(
    svgEl('polygon', { class: 'spark-area', points: `0,${height} ${line} ${width},${height}` }),
    svgEl('polyline', { class: 'spark-line', points: line }),
  );
  return svg;
}
