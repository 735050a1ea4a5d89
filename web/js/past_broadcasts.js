// "Past broadcasts" on the channel page (/u/<name>): the channel's recordings, newest first,
// each linking to its replay page; the owner also sees the private ones, marked. Hidden while
// the channel has none (or the server records nothing).

import { listRecordings, recordingItem } from './recordings.js';
import { humanMessage, toast } from './ui.js';

const kPage = 10;
const kRecordingRefreshMs = 10000; // while one is still being recorded, to see it complete

export class PastBroadcasts {
  // card: the section (hidden until there is something to list); list: its <ul>; pager and more:
  // the "Show older" row and its button; count: where the number listed goes.
  constructor({ card, list, pager, more, count, username }) {
    Object.assign(this, { card, list, pager, more, count, username });
    this.next = null;
    this.timer = null;
    more.addEventListener('click', () => this.load({ more: true }));
  }

  // The first page again (the page opened, a stream ended), or with `more` the next older one.
  async load({ more = false } = {}) {
    let data;
    this.more.disabled = true;
    try {
      data = await listRecordings(this.username, { before: more ? this.next : null, limit: kPage });
    } catch (err) {
      if (more) toast(humanMessage(err), 'error');
      return;
    } finally {
      this.more.disabled = false;
    }
    this.next = data?.next_before ?? null;
    const page = data?.recordings || [];
    if (!more) {
      clearTimeout(this.timer);
      if (page.some((r) => r.state === 'recording')) this.timer = setTimeout(() => this.load(), kRecordingRefreshMs);
    }
    const items = page.map((r) => {
      const viewers = Number(r.peak_viewers) || 0;
      return recordingItem(r, this.username, { meta: [`${viewers} peak ${viewers === 1 ? 'viewer' : 'viewers'}`] });
    });
    if (more) this.list.append(...items);
    else this.list.replaceChildren(...items);
    const n = this.list.children.length;
    this.pager.hidden = this.next === null;
    this.card.hidden = n === 0;
    this.list.dataset.count = String(n); // loaded: how many it lists
    this.count.textContent = this.next === null ? String(n) : `${n}+`;
  }
}
