-- Triggers (issue 9): each schedule's last handled due time, and one row per fire, so a
-- due time fires once however many schedulers (or restarts) see it.
CREATE TABLE trigger_schedules (
    name       TEXT PRIMARY KEY,
    last_due   REAL NOT NULL
);

CREATE TABLE trigger_fires (
    name       TEXT NOT NULL,
    due_at     REAL NOT NULL,
    run_id     TEXT NOT NULL,
    fired_at   REAL NOT NULL,
    PRIMARY KEY (name, due_at)
);
