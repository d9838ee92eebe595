import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard page. `npm run build` bundles it into dist/web/, which the daemon serves at /dashboard/.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  // Preact through esbuild's automatic JSX runtime: no framework plugin needed.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
  },
});
