-- Migration 1: the tables of a ledger (schema version 1).
CREATE TABLE ikrar_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tree_size bigint NOT NULL CHECK (tree_size >= 0),
    root bytea NOT NULL CHECK (length(root) = 32),
    last_recorded_at_us bigint NOT NULL
);
CREATE TABLE ikrar_records (
    position bigint PRIMARY KEY CHECK (position >= 0),
    stream text NOT NULL,
    version bigint NOT NULL CHECK (version >= 0),
    event_id uuid NOT NULL UNIQUE,
    record bytea NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE ikrar_tiles (
    level smallint NOT NULL,
    tile bigint NOT NULL,
    hashes bytea NOT NULL,
    PRIMARY KEY (level, tile)
);
CREATE TABLE ikrar_checkpoints (
    tree_size bigint NOT NULL,
    key_name text NOT NULL,
    note text NOT NULL,
    PRIMARY KEY (tree_size, key_name)
);
CREATE TABLE ikrar_verifier_keys (
    key_name text PRIMARY KEY,
    verifier text NOT NULL
);
