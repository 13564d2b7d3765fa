// The demo's feed state and catalog display, without a browser (the page itself: tests/browser/demo.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Feed, FeedSnapshotError, pickFeed } from '../../demo/feed.ts';
import { toDisplayItem } from '../../demo/display.ts';

test('likes become the history in the order given; skips are excluded but not history', () => {
  const feed = new Feed(100);
  feed.showSession([7, 3, 9, 42, 5]);
  assert.equal(feed.sessionNumber, 1);
  assert.equal(feed.answer(9, 'liked'), false);
  assert.equal(feed.answer(3, 'liked'), false);
  assert.equal(feed.answer(42, 'skipped'), false);
  assert.deepEqual(feed.liked, [9, 3]);
  assert.deepEqual([...feed.excluded()].sort((a, b) => a - b), [3, 9, 42]);
  assert.equal(feed.answer(7, 'liked'), false);
  assert.equal(feed.answer(5, 'skipped'), true, 'every item answered: time for the next session');
  assert.deepEqual(feed.liked, [9, 3, 7]);
});

test('pressing the same answer again takes it back; the other answer replaces it', () => {
  const feed = new Feed(10);
  feed.showSession([1, 2]);
  feed.answer(1, 'liked');
  feed.answer(1, 'liked');
  assert.deepEqual(feed.liked, []);
  assert.equal(feed.verdicts.has(1), false);
  feed.answer(2, 'liked');
  feed.answer(2, 'skipped');
  assert.deepEqual(feed.liked, []);
  assert.deepEqual([...feed.skipped], [2]);
  assert.equal(feed.verdicts.get(2), 'skipped');
});

test('a new session clears the answers but keeps the history', () => {
  const feed = new Feed(10);
  feed.showSession([1, 2]);
  feed.answer(1, 'liked');
  feed.showSession([3, 4]);
  assert.equal(feed.sessionNumber, 2);
  assert.equal(feed.verdicts.size, 0);
  assert.deepEqual(feed.liked, [1]);
  assert.throws(() => feed.answer(1, 'liked'), /item 1 is not in the session on screen/);
});

test('the history keeps the newest maxLiked likes', () => {
  const feed = new Feed(10, 3);
  feed.showSession([0, 1, 2, 3, 4]);
  for (const i of [0, 1, 2, 3, 4]) feed.answer(i, 'liked');
  assert.deepEqual(feed.liked, [2, 3, 4]);
});

test('snapshots round-trip; items outside the catalog are dropped; junk is a typed error', () => {
  const feed = new Feed(10);
  feed.showSession([1, 2, 3]);
  feed.answer(2, 'liked');
  feed.answer(1, 'liked');
  feed.answer(3, 'skipped');
  const again = new Feed(10);
  again.restore(JSON.parse(JSON.stringify(feed.snapshot())), 'test');
  assert.deepEqual(again.liked, [2, 1]);
  assert.deepEqual([...again.skipped], [3]);

  const smaller = new Feed(2);
  smaller.restore({ version: 1, liked: [2, 1, -1, 0.5, '1'], skipped: [3, 0] }, 'test');
  assert.deepEqual(smaller.liked, [1]);
  assert.deepEqual([...smaller.skipped], [0]);

  assert.throws(() => smaller.restore({ liked: [] }, 'localStorage x'), (e: Error) => e.name === 'FeedSnapshotError' && e instanceof FeedSnapshotError && /localStorage x/.test(e.message));
});

test('catalog entries become display items; HTML in a title stays a plain string', () => {
  const html = '<img src=x onerror="alert(1)"> Lip <b>balm</b>';
  assert.deepEqual(toDisplayItem({ id: 'B00X', title: html, attributes: { brand: 'Acme', categories: ['Beauty', 'Lips'], price: 4.5, empty: '' } }, 0), {
    id: 'B00X',
    title: html,
    attributes: ['brand: Acme', 'categories: Beauty, Lips', 'price: 4.5'],
  });
  assert.deepEqual(toDisplayItem('B01Y', 3), { id: 'B01Y', title: 'Item B01Y', attributes: [] });
  assert.deepEqual(toDisplayItem({ id: 77, attributes: ['author 12', 'music 3'] }, 5), { id: '77', title: 'Item 77', attributes: ['author 12', 'music 3'] });
  assert.deepEqual(toDisplayItem({ id: '42' }, 42, 'Video'), { id: '42', title: 'Video 42', attributes: [] });
  const long = toDisplayItem({ id: 'a', title: 't', attributes: { a: 'x'.repeat(100), b: 1, c: 2, d: 3, e: 4 } }, 0);
  assert.equal(long.attributes.length, 4);
  assert.equal(long.attributes[0].length, 48);
  assert.ok(long.attributes[0].endsWith('…'));
});

test('pickFeed: the best session without a skipped item; short sessions are topped up from the next beams', () => {
  const skipped = new Set([4]);
  // Sessions of 3: the best holds a skipped item, so the second is shown on its own.
  assert.deepEqual(pickFeed([[1, 4, 2], [5, 6, 7], [8, 9, 10]], skipped, 3), { items: [5, 6, 7], shown: [1], passedOver: [0] });
  // Every candidate holds a skipped item: the best one anyway.
  assert.deepEqual(pickFeed([[4, 1], [2, 4]], skipped, 2), { items: [4, 1], shown: [0], passedOver: [] });
  // Next-item model (sessions of 1): the five best beams become five cards, skipping a skipped item.
  assert.deepEqual(pickFeed([[9], [4], [3], [9], [7], [1], [2], [5]], skipped, 5), { items: [9, 3, 7, 1, 2], shown: [0, 2, 4, 5, 6], passedOver: [] });
  // Fewer beams than cards wanted: all of them.
  assert.deepEqual(pickFeed([[9], [3]], skipped, 5), { items: [9, 3], shown: [0, 1], passedOver: [] });
  assert.deepEqual(pickFeed([], skipped, 5), { items: [], shown: [], passedOver: [] });
});
