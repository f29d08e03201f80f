import type { ClickHouseClient } from '@clickhouse/client';
import { classifyStoreError } from './errors';
import type { QueryParams } from './selection';

/** Runs a parameterised SELECT and returns its rows; transport failures become StoreUnavailableError. */
export async function queryRows<T>(
  client: ClickHouseClient,
  query: string,
  params: QueryParams,
): Promise<T[]> {
  try {
    const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
    return await rs.json<T>();
  } catch (err) {
    throw classifyStoreError(err);
  }
}
