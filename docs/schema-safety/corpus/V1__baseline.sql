-- The schema every case starts from (the baseline, applied and not judged).
CREATE TABLE accounts (id bigint PRIMARY KEY, email text, plan text NOT NULL DEFAULT 'free', created_at timestamptz NOT NULL DEFAULT now());
