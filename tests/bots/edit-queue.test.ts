import { describe, expect, it } from 'vitest';
import { EditQueue } from '../../src/bots/edit-queue.js';
import { eventually } from '../helpers/app.js';

/** The per-message edit order both chat adapters rely on (their end-to-end suites cover the spacing). */
describe('EditQueue', () => {
  const text = (value: string) => ({ text: value });

  it('holds progress behind a handler’s answer, then shows only the newest', async () => {
    const queue = new EditQueue(0);
    const shown: string[] = [];
    const release = queue.hold('m1');
    for (const step of ['queued at fal', 'running', 'running 50%']) {
      queue.progress('m1', text(step), async (message) => void shown.push(message.text ?? ''));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shown).toEqual([]);
    release();
    release(); // a second release changes nothing
    await eventually(() => shown.length === 1);
    expect(shown).toEqual(['running 50%']);
    const final = await queue.finish('m1');
    expect(await final.spaced(async () => 'outcome')).toBe('outcome');
  });

  it('lets the outcome supersede progress not shown yet, and drops progress that comes after it', async () => {
    const queue = new EditQueue(0);
    const shown: string[] = [];
    const release = queue.hold('m2');
    queue.progress('m2', text('pending'), async (message) => void shown.push(message.text ?? ''));
    const finishing = queue.finish('m2');
    release();
    await finishing;
    queue.progress('m2', text('late'), async (message) => void shown.push(message.text ?? ''));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shown).toEqual([]);
  });

  it('keeps going past a failed edit, and keeps messages apart', async () => {
    const queue = new EditQueue(0);
    const shown: string[] = [];
    queue.progress('m3', text('one'), async () => {
      throw new Error('edit refused');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    queue.progress('m3', text('two'), async (message) => void shown.push(`m3 ${message.text ?? ''}`));
    queue.progress('m4', text('other'), async (message) => void shown.push(`m4 ${message.text ?? ''}`));
    await eventually(() => shown.length === 2);
    expect(shown.sort()).toEqual(['m3 two', 'm4 other']);
  });
});
