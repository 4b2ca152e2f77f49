import {
  LimitNode,
  OffsetNode,
  SelectQueryNode,
  ValueNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

/** A bound number becomes a literal in the SQL text. */
function inlined(node: OperationNode): OperationNode {
  return ValueNode.is(node) && !node.immediate && typeof node.value === 'number' && Number.isSafeInteger(node.value) ? ValueNode.createImmediate(node.value) : node;
}

/**
 * SQLite (3.4x) plans with the value bound to `LIMIT ?` and `OFFSET ?`, so a statement using them
 * is compiled again each time it is run with a new binding: 5–50 µs a query, on every join and
 * paged read. Writing the numbers into the text instead lets each statement be prepared once
 * (the statement cache keys on the text; limits take a handful of values). Only a query's own
 * LIMIT and OFFSET are rewritten, in place of walking (and copying) every query's whole tree.
 */
export class InlineLimitsPlugin implements KyselyPlugin {
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    if (!SelectQueryNode.is(node) || (!node.limit && !node.offset)) return node;
    return Object.freeze({
      ...node,
      ...(node.limit ? { limit: LimitNode.create(inlined(node.limit.limit)) } : {}),
      ...(node.offset ? { offset: OffsetNode.create(inlined(node.offset.offset)) } : {}),
    });
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}
