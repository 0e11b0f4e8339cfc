// A small chart of where sessions were opened: longitude and latitude on a plain grid
// (equirectangular), one dot per place, drawn here as SVG — no map tiles, no other host.

import { svg } from './ui.js';

/**
 * The chart of the sessions' places (`geo.lat`/`geo.lon`), or null when none has coordinates.
 * Sessions with `is_current` get the "current" dot.
 */
export function placeChart(sessions) {
  const places = new Map();
  for (const s of sessions) {
    const geo = s.geo;
    if (!geo || typeof geo.lat !== 'number' || typeof geo.lon !== 'number') continue;
    const key = `${geo.lat.toFixed(1)},${geo.lon.toFixed(1)}`;
    const known = places.get(key);
    places.set(key, {
      lat: geo.lat,
      lon: geo.lon,
      name: [geo.city, geo.country_code].filter(Boolean).join(', ') || `${geo.lat.toFixed(1)}, ${geo.lon.toFixed(1)}`,
      count: (known?.count ?? 0) + 1,
      current: Boolean(known?.current || s.is_current),
    });
  }
  if (places.size === 0) return null;
  const list = [...places.values()];
  const label = `Sessions opened from ${list.length === 1 ? 'one place' : `${list.length} places`}: ${list
    .map((p) => `${p.name} (${p.count} session${p.count === 1 ? '' : 's'})`)
    .join('; ')}`;
  const chart = svg('svg', { viewBox: '0 0 360 180', class: 'place-chart', role: 'img', 'aria-label': label });
  chart.append(svg('title', {}, label));
  for (let lon = 0; lon <= 360; lon += 30) chart.append(svg('line', { x1: lon, y1: 0, x2: lon, y2: 180, class: 'grid' }));
  for (let lat = 0; lat <= 180; lat += 30) chart.append(svg('line', { x1: 0, y1: lat, x2: 360, y2: lat, class: 'grid' }));
  chart.append(svg('line', { x1: 0, y1: 90, x2: 360, y2: 90, class: 'grid equator' }));
  for (const p of list) {
    const x = p.lon + 180;
    const y = 90 - p.lat;
    const circle = { cx: x.toFixed(1), cy: y.toFixed(1), r: 2 + Math.min(4, p.count), class: p.current ? 'dot current' : 'dot' };
    chart.append(svg('circle', circle));
    chart.append(svg('text', { x: Math.min(x + 5, 300).toFixed(1), y: Math.max(y - 4, 8).toFixed(1) }, p.name));
  }
  return chart;
}
