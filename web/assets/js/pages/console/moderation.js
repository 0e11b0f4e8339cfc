// Moderation records (spec 30 §6): warnings, timeouts, bans, mutes and kicks, filtered by user,
// issuer, type, chat and whether they are in force.

import { field } from '../../ui.js';
import { actionName } from '../../format.js';
import { frame } from './common.js';
import { filteredList } from './filtered.js';
import { ACTION_CSV, ACTION_TYPES, actionCsvRow, actionTable } from './records.js';

export default {
  title: 'Moderation records',
  access: 'member',
  render(main, { user, query }) {
    if (!frame(main, user, 'Moderation records', '/console/moderation')) return;
    main.append(
      ...filteredList({
        fields: [
          field({ label: 'User (id)', name: 'user_id', type: 'number', min: 1 }),
          field({ label: 'Issued by (user id)', name: 'issued_by', type: 'number', min: 1 }),
          field({ label: 'Action', name: 'action_type', type: 'select', options: [['', 'Any'], ...ACTION_TYPES.map((type) => [type, actionName(type)])] }),
          field({ label: 'Chat (id)', name: 'chat_id', type: 'number', min: 1 }),
          field({ label: 'Only those in force', name: 'active_only', type: 'select', options: [['', 'All'], ['true', 'In force only']] }),
        ],
        initial: [...query],
        path: '/console/moderation',
        endpoint: '/v1/admin/moderation/actions',
        key: 'actions',
        draw: (rows) => actionTable(rows),
        csv: { name: 'moderation-records.csv', header: ACTION_CSV, row: actionCsvRow },
        label: 'records',
      }),
    );
  },
};
