// The audit log (spec 30 §8.4): every staff act, filtered by actor, target, event type and time.

import { field } from '../../ui.js';
import { frame } from './common.js';
import { filteredList } from './filtered.js';
import { AUDIT_CSV, EVENT_TYPES, auditCsvRow, auditTable, eventName } from './records.js';

/** A `datetime-local` value (the reader's time) as the API's timestamp, and back. */
const toIso = (local) => (local ? new Date(local).toISOString() : '');
const toLocal = (iso) => {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

function convert(values) {
  return { ...values, since: toIso(values.since), until: toIso(values.until) };
}
convert.fromQuery = (name, value) => (name === 'since' || name === 'until' ? toLocal(value) : value);

export default {
  title: 'Audit log',
  access: 'member',
  render(main, { user, query }) {
    if (!frame(main, user, 'Audit log', '/console/audit')) return;
    main.append(
      ...filteredList({
        fields: [
          field({ label: 'Actor (user id)', name: 'actor_id', type: 'number', min: 1 }),
          field({ label: 'Target type', name: 'target_type', type: 'select', options: [['', 'Any'], ['user', 'User'], ['bot', 'Bot'], ['chat', 'Chat'], ['system', 'System']] }),
          field({ label: 'Target id', name: 'target_id', type: 'number', min: 1 }),
          field({ label: 'Event', name: 'event_type', type: 'select', options: [['', 'Any'], ...EVENT_TYPES.map((type) => [type, eventName(type)])] }),
          field({ label: 'From', name: 'since', type: 'datetime-local' }),
          field({ label: 'Until', name: 'until', type: 'datetime-local' }),
        ],
        initial: [...query],
        path: '/console/audit',
        endpoint: '/v1/admin/audit/logs',
        key: 'items',
        draw: auditTable,
        csv: { name: 'audit-log.csv', header: AUDIT_CSV, row: auditCsvRow },
        label: 'audit rows',
        exportLimit: 200,
        convert,
      }),
    );
  },
};
