-- The durable queue that OSS upload events go through (src/ingest/queue.rs, `adbrag worker`,
-- `adbrag fc`, `adbrag jobs`).
--
-- Two statuses join the four of 0001: 'dead' is a job whose transient failures (the embedding API
-- or OSS down, the database restarted) outlasted its attempts — an operator retries it with
-- `adbrag jobs retry` once the cause is fixed — as opposed to 'failed', a final verdict on the
-- document itself (a corrupt PDF); 'cancelled' is a job an operator stopped.
ALTER TABLE ingest_job DROP CONSTRAINT ingest_job_status_check;
ALTER TABLE ingest_job ADD CONSTRAINT ingest_job_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'));

-- What a finished job did, in one word: 'written', 'unchanged', 'stale', 'deleted', 'absent',
-- 'vanished' (the object was gone before it could be fetched), 'superseded' (the object had
-- already been replaced by a newer version, whose own event brings it). docs/queue.md lists them.
ALTER TABLE ingest_job ADD COLUMN outcome text;

-- What the worker needs to process a job beyond its columns: the event's region, its OSS user
-- metadata (which becomes document metadata), the key as the event gave it. It names the source
-- object, so a purge removes the job with the document.
ALTER TABLE ingest_job ADD COLUMN payload jsonb NOT NULL DEFAULT '{}';

-- `adbrag jobs list --status dead` and the metrics read jobs by status, newest first.
CREATE INDEX ingest_job_status_idx ON ingest_job (status, updated_at DESC);
