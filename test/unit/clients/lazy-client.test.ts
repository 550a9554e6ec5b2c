import { describe, expect, it } from 'vitest';
import { lazyClient, whenBuilt } from '../../../functions/commons/clients/lazy-client.ts';

class FakeClient {
  static built = 0;
  readonly stack: string[] = [];
  constructor() {
    FakeClient.built++;
  }
  send(command: string): string {
    return `${command} via ${this.stack.join('+') || 'nothing'}`;
  }
}

describe('lazyClient', () => {
  it('builds the client on its first use, once, and behaves as it', () => {
    FakeClient.built = 0;
    const client = lazyClient(() => new FakeClient());
    expect(FakeClient.built).toBe(0);
    const { send } = client; // a method read off it keeps its client
    expect(send('get')).toBe('get via nothing');
    expect(client.send('put')).toBe('put via nothing');
    expect(FakeClient.built).toBe(1);
  });

  it('wraps a lazy client when it is built (not before), and the same client it stands for', () => {
    FakeClient.built = 0;
    const client = lazyClient(() => new FakeClient());
    const wrapped = whenBuilt(client, (built) => (built.stack.push('traced'), built));
    expect(FakeClient.built).toBe(0);
    expect(wrapped.send('get')).toBe('get via traced');
    expect(client.send('put')).toBe('put via traced');
    expect(FakeClient.built).toBe(1);
  });

  it('wraps a client built already at once', () => {
    const client = new FakeClient();
    expect(whenBuilt(client, (built) => (built.stack.push('traced'), built)).send('get')).toBe('get via traced');
  });
});
