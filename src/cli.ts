import { main } from './cli/main.js';

process.exit(await main(process.argv));
