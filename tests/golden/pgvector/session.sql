-- every connection
-- connections that search (ef_search 100)
SET hnsw.ef_search = '100';
SET hnsw.iterative_scan = 'relaxed_order';
SET plan_cache_mode = 'force_custom_plan';
