-- every connection
SET optimizer = 'off';
-- connections that search (ef_search 100)
SET optimizer = 'off';
SET fastann.hnsw_ef_search = '100';
SET plan_cache_mode = 'force_custom_plan';
