import type { FastifyInstance } from 'fastify';
import { BOARD_PAGE } from './board-page.ts';

/**
 * /demo/board (with the demo on): a kanban board on P2P shared data. It signs people in through
 * the demo's token route, so it uses the demo's environment: turn on allowP2P there.
 */
export function registerBoard(app: FastifyInstance): void {
  app.get('/demo/board', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(BOARD_PAGE));
}
