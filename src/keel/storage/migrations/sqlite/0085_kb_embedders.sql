-- Issue 8: the embedder whose vectors a tenant's knowledge base holds (its `name`, the
-- identity of a vector space), so vectors of two embedders are never mixed in one index
-- or compared with a query embedded by another. Knowledge bases written before this
-- were embedded with the only local embedder there was (all-MiniLM-L6-v2-int8, 384
-- floats a vector) unless an app passed its own; other sizes are recorded as unknown.
CREATE TABLE kb_embedders (
    tenant_id   TEXT    PRIMARY KEY,
    embedder    TEXT    NOT NULL
);

INSERT INTO kb_embedders (tenant_id, embedder)
SELECT tenant_id,
       CASE WHEN max(length(embedding)) = 1536 AND min(length(embedding)) = 1536
            THEN 'all-MiniLM-L6-v2-int8' ELSE 'unknown' END
FROM kb_chunks GROUP BY tenant_id;
