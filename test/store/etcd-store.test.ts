import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { EtcdStore } from '../../src/store/index.js';
import { runStoreContract } from './store-contract.js';

let server: EtcdServer;
let n = 0;
const open = async () => {
  const store = new EtcdStore({ endpoints: [`http://${server.endpoint}`], prefix: `/contract-${n++}/` });
  await store.ready();
  return store;
};

before(async () => {
  server = await EtcdServer.start({ name: 'te-store' });
});
after(async () => {
  await server?.stop();
});

runStoreContract('etcd', open);

describe('etcd store', () => {
  it('placeholder', async () => {
    const store = await open();
    assert.equal(await store.read((v) => v.list('network').length), 0);
    await store.close();
  });
});
