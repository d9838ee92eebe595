import { runWireConformance } from './wire.js';

runWireConformance({ backend: 'nftables', prefix: `sfnw${process.pid % 10000}` });
