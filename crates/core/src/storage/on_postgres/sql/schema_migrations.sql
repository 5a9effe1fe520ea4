-- The migrations applied to this schema, one row each; made by `create`, before migration 1.
CREATE TABLE ikrar_schema_migrations (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
