import { PostgresDialect, sql, type DatabaseIntrospector, type DatabaseMetadata, type Kysely, type SchemaMetadata, type TableMetadata } from 'kysely';

/**
 * Kysely's PostgreSQL dialect, with an introspector that looks at one schema only. Kysely's own
 * reads every schema of the database and resolves each table by name
 * (`pg_get_serial_sequence`): when another process drops a schema meanwhile (another Pulse
 * schema in the same database, a test run beside this one) it fails with "schema … does not
 * exist", and the migrator, which only asks whether its own tables exist, fails with it.
 */
export class SchemaScopedPostgresDialect extends PostgresDialect {
  readonly #schema: string | undefined;

  constructor(config: ConstructorParameters<typeof PostgresDialect>[0], schema: string | undefined) {
    super(config);
    this.#schema = schema;
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.#schema);
  }
}

/** Tables and views of one schema (the connection's current one when none is named), without their columns. */
class SchemaIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;
  readonly #schema: string | undefined;

  constructor(db: Kysely<unknown>, schema: string | undefined) {
    this.#db = db;
    this.#schema = schema;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<SchemaMetadata>`select nspname as name from pg_catalog.pg_namespace`.execute(this.#db);
    return rows;
  }

  async getTables(): Promise<TableMetadata[]> {
    const schema = this.#schema === undefined ? sql`current_schema()` : sql`${this.#schema}`;
    const { rows } = await sql<{ name: string; schema: string; type: string }>`
      select table_name as name, table_schema as schema, table_type as type
      from information_schema.tables where table_schema = ${schema} order by table_name`.execute(this.#db);
    return rows.map((r) => ({ name: r.name, schema: r.schema, isView: r.type === 'VIEW', columns: [] }));
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}
