import { defaultClientConditions, defineConfig } from 'vite';

/**
 * The panel is served by the Pulse server at /panel (packages/server/src/panel-api/static.ts).
 * TSX is compiled by Vite's own esbuild with the automatic React runtime; no plugin needed.
 * `npm run dev` proxies the API to a Pulse server on the default port. Workspace packages are read
 * from their TypeScript sources (their "pulse-source" export), so no other build is needed first.
 */
export default defineConfig({
  base: '/panel/',
  resolve: { conditions: ['pulse-source', ...defaultClientConditions] },
  esbuild: { jsx: 'automatic' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { proxy: { '/panel/api': 'http://127.0.0.1:4567', '/favicon.ico': 'http://127.0.0.1:4567' } },
});
