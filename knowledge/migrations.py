"""Ordered schema migrations. Append new ones; never edit one that has shipped.

Each migration is plain SQL run inside one transaction together with the bump of
`PRAGMA user_version`, so a crash leaves the database at the old version or the new
one, never between. Besides SQLite's own functions, a migration may call those the store
adds to every connection (`add_functions` in knowledge/store/database.py). FTS tables
and triggers follow sqlite-utils' naming (`<table>_fts`, `<table>_ai/_ad/_au`) so
`sqlite-utils search` and Datasette find them.
"""

from __future__ import annotations


def fts_sql(table: str, column: str) -> str:
    """An external-content FTS5 index over `table.column`, kept in sync by triggers."""
    fts = f"{table}_fts"
    return f"""
CREATE VIRTUAL TABLE [{fts}] USING FTS5 ([{column}], tokenize='porter', content=[{table}]);
INSERT INTO [{fts}] (rowid, [{column}]) SELECT rowid, [{column}] FROM [{table}];
CREATE TRIGGER [{table}_ai] AFTER INSERT ON [{table}] BEGIN
  INSERT INTO [{fts}] (rowid, [{column}]) VALUES (new.rowid, new.[{column}]);
END;
CREATE TRIGGER [{table}_ad] AFTER DELETE ON [{table}] BEGIN
  INSERT INTO [{fts}] ([{fts}], rowid, [{column}]) VALUES ('delete', old.rowid, old.[{column}]);
END;
CREATE TRIGGER [{table}_au] AFTER UPDATE OF [{column}] ON [{table}] BEGIN
  INSERT INTO [{fts}] ([{fts}], rowid, [{column}]) VALUES ('delete', old.rowid, old.[{column}]);
  INSERT INTO [{fts}] (rowid, [{column}]) VALUES (new.rowid, new.[{column}]);
END;
"""


INITIAL = """
CREATE TABLE authorities (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  created_at TEXT NOT NULL
);
CREATE TABLE officers (
  id INTEGER PRIMARY KEY,
  user_key TEXT NOT NULL UNIQUE,
  display_name TEXT,
  authority_id INTEGER REFERENCES authorities(id),
  created_at TEXT NOT NULL,
  forgotten_at TEXT
);
CREATE TABLE questions (
  id INTEGER PRIMARY KEY,
  text TEXT NOT NULL,
  topic TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'in_release', 'answered', 'withdrawn', 'merged')),
  place TEXT,
  merged_into INTEGER REFERENCES questions(id),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX idx_questions_status ON questions(status);
CREATE TABLE asks (
  id INTEGER PRIMARY KEY,
  question_id INTEGER NOT NULL REFERENCES questions(id),
  officer_id INTEGER REFERENCES officers(id),
  authority_id INTEGER NOT NULL REFERENCES authorities(id),
  text TEXT NOT NULL,
  link TEXT NOT NULL,
  score REAL,
  place TEXT,
  merged_from INTEGER REFERENCES questions(id),
  asked_at TEXT NOT NULL,
  withdrawn_at TEXT
);
CREATE INDEX idx_asks_question ON asks(question_id);
CREATE INDEX idx_asks_officer ON asks(officer_id);
CREATE TABLE drafts (
  id INTEGER PRIMARY KEY,
  officer_id INTEGER NOT NULL REFERENCES officers(id),
  text TEXT NOT NULL,
  topic TEXT NOT NULL,
  place TEXT,
  suggested_question_id INTEGER NOT NULL REFERENCES questions(id),
  score REAL NOT NULL,
  created_at TEXT NOT NULL,
  resolved_at TEXT,
  resolution TEXT
);
CREATE INDEX idx_drafts_officer ON drafts(officer_id);
CREATE TABLE releases (
  id INTEGER PRIMARY KEY,
  number INTEGER NOT NULL UNIQUE,
  published_at TEXT NOT NULL,
  published_by INTEGER REFERENCES officers(id)
);
CREATE TABLE answers (
  id INTEGER PRIMARY KEY,
  question_id INTEGER NOT NULL REFERENCES questions(id),
  version INTEGER NOT NULL,
  body TEXT NOT NULL,
  links TEXT NOT NULL DEFAULT '[]',
  author_id INTEGER REFERENCES officers(id),
  created_at TEXT NOT NULL,
  release_id INTEGER REFERENCES releases(id),
  UNIQUE (question_id, version)
);
CREATE INDEX idx_answers_release ON answers(release_id);
CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY,
  dedupe_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('answer', 'merged')),
  question_id INTEGER NOT NULL REFERENCES questions(id),
  answer_id INTEGER REFERENCES answers(id),
  merged_from INTEGER REFERENCES questions(id),
  recipient TEXT NOT NULL,
  recipient_is_place INTEGER NOT NULL DEFAULT 0,
  officer_id INTEGER REFERENCES officers(id),
  status TEXT NOT NULL DEFAULT 'owed' CHECK (status IN ('owed', 'sent')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  sent_at TEXT
);
CREATE INDEX idx_deliveries_owed ON deliveries(status, recipient);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor_id INTEGER REFERENCES officers(id),
  action TEXT NOT NULL,
  question_id INTEGER,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_events_at ON events(at);
CREATE INDEX idx_events_action ON events(action, at);
"""

# Digests and reminders: one row per message owed to the steering group or the expert.
# `key` makes each one unique (a digest window, a release due time, a question and limit),
# so a restart or a second scheduler can never owe the same notice twice.
NOTICES = """
CREATE TABLE notices (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('digest', 'release_reminder', 'overdue')),
  audience TEXT NOT NULL CHECK (audience IN ('steering', 'expert')),
  window_start TEXT,
  window_end TEXT,
  body TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'owed' CHECK (status IN ('owed', 'sent')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  sent_at TEXT
);
CREATE INDEX idx_notices_owed ON notices(status, audience);
CREATE INDEX idx_notices_kind ON notices(kind, window_end);
"""

# The expert's queue ranks open questions by distinct authorities, then by waiting time.
# Kept on the question row (refreshed whenever its asks change) so a queue position is an
# index range count, not an aggregate over every ask.
QUEUE_RANKING = """
ALTER TABLE questions ADD COLUMN demand INTEGER NOT NULL DEFAULT 0;
ALTER TABLE questions ADD COLUMN waiting_since TEXT;
UPDATE questions SET
  demand = (SELECT COUNT(DISTINCT a.authority_id) FROM asks a
            WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL),
  waiting_since = COALESCE((SELECT MIN(a.asked_at) FROM asks a
            WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL), created_at);
UPDATE questions SET waiting_since = created_at WHERE waiting_since IS NULL;
CREATE INDEX idx_questions_queue ON questions(status, demand DESC, waiting_since, id);
"""

# A counter bumped by every change that matters to the duplicate matcher, so a process can
# tell whether another one (e.g. an import while the bot runs) changed questions or asks,
# and only then rebuild its index.
MATCHING_CHANGES = """
CREATE TABLE matching_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT INTO matching_changes (id, n) VALUES (1, 0);
CREATE TRIGGER questions_matching_ai AFTER INSERT ON questions BEGIN
  UPDATE matching_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER questions_matching_au AFTER UPDATE OF status, text ON questions BEGIN
  UPDATE matching_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER asks_matching_ai AFTER INSERT ON asks BEGIN
  UPDATE matching_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER asks_matching_au AFTER UPDATE OF withdrawn_at, question_id, text ON asks BEGIN
  UPDATE matching_changes SET n = n + 1 WHERE id = 1;
END;
"""

# The matcher's change log replaces the counter: each process reads which questions changed
# since it last looked and re-indexes just those, instead of rebuilding everything.
# AUTOINCREMENT keeps positions consecutive (a rolled-back change takes none), so a gap
# means the log was trimmed past a reader, which then rebuilds.
QUESTION_CHANGES = """
DROP TRIGGER questions_matching_ai;
DROP TRIGGER questions_matching_au;
DROP TRIGGER asks_matching_ai;
DROP TRIGGER asks_matching_au;
DROP TABLE matching_changes;
CREATE TABLE question_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  question_id INTEGER NOT NULL
);
CREATE TRIGGER questions_changes_ai AFTER INSERT ON questions BEGIN
  INSERT INTO question_changes (question_id) VALUES (new.id);
END;
CREATE TRIGGER questions_changes_au AFTER UPDATE OF status, text ON questions BEGIN
  INSERT INTO question_changes (question_id) VALUES (new.id);
END;
CREATE TRIGGER asks_changes_ai AFTER INSERT ON asks BEGIN
  INSERT INTO question_changes (question_id) VALUES (new.question_id);
END;
CREATE TRIGGER asks_changes_au AFTER UPDATE OF withdrawn_at, question_id, text ON asks BEGIN
  INSERT INTO question_changes (question_id) VALUES (new.question_id);
  INSERT INTO question_changes (question_id)
    SELECT old.question_id WHERE old.question_id IS NOT new.question_id;
END;
"""

# One outbox: answers, merge notices, digests, reminders and overdue flags are the same kind
# of owed message, with one sender, one retry policy (its backoff kept here, in
# `next_attempt_at`, so a restart keeps it) and one "given up" state. A message goes either
# to an address (`recipient`: an officer or a place) or to an audience (the steering group,
# the expert). Deliveries keep their ids, so a resend after the upgrade carries the same
# nonce; notices follow them.
OUTBOX = """
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL
    CHECK (kind IN ('answer', 'merged', 'digest', 'release_reminder', 'overdue')),
  recipient TEXT,
  recipient_is_place INTEGER NOT NULL DEFAULT 0,
  audience TEXT CHECK (audience IN ('steering', 'expert')),
  officer_id INTEGER REFERENCES officers(id),
  question_id INTEGER REFERENCES questions(id),
  answer_id INTEGER REFERENCES answers(id),
  merged_from INTEGER REFERENCES questions(id),
  body TEXT,
  window_start TEXT,
  window_end TEXT,
  parts_sent INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'owed' CHECK (status IN ('owed', 'sent')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  next_attempt_at TEXT,
  created_at TEXT NOT NULL,
  sent_at TEXT,
  CHECK ((recipient IS NULL) != (audience IS NULL))
);
INSERT INTO outbox (id, key, kind, recipient, recipient_is_place, officer_id, question_id,
                    answer_id, merged_from, status, attempts, last_error, created_at, sent_at)
  SELECT id, dedupe_key, kind, recipient, recipient_is_place, officer_id, question_id,
         answer_id, merged_from, status, attempts, last_error, created_at, sent_at
  FROM deliveries;
INSERT INTO outbox (id, key, kind, audience, body, window_start, window_end, parts_sent,
                    status, attempts, last_error, created_at, sent_at)
  SELECT id + (SELECT COALESCE(MAX(id), 0) FROM deliveries), key, kind, audience, body,
         window_start, window_end, parts_sent, status, attempts, last_error, created_at, sent_at
  FROM notices;
DROP TABLE deliveries;
DROP TABLE notices;
CREATE INDEX idx_outbox_owed ON outbox(status, attempts, id);
CREATE INDEX idx_outbox_officer ON outbox(officer_id);
CREATE INDEX idx_outbox_kind ON outbox(kind, window_end);
"""

# An import is written in short transactions while other processes keep working, so until
# it completes its questions and asks carry its id and stay out of sight (every query
# reads `import_id IS NULL`); completing it clears the id in one short transaction, and the
# change log tells every matcher. An import that dies leaves only hidden rows, removed
# when it is found abandoned (no heartbeat for a while).
PENDING_IMPORTS = """
CREATE TABLE imports (
  id INTEGER PRIMARY KEY,
  started_by INTEGER REFERENCES officers(id),
  started_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL,
  finished_at TEXT
);
ALTER TABLE questions ADD COLUMN import_id INTEGER REFERENCES imports(id);
ALTER TABLE asks ADD COLUMN import_id INTEGER REFERENCES imports(id);
CREATE INDEX idx_questions_import ON questions(import_id) WHERE import_id IS NOT NULL;
CREATE INDEX idx_asks_import ON asks(import_id) WHERE import_id IS NOT NULL;
CREATE TRIGGER questions_changes_import AFTER UPDATE OF import_id ON questions BEGIN
  INSERT INTO question_changes (question_id) VALUES (new.id);
END;
CREATE TRIGGER asks_changes_import AFTER UPDATE OF import_id ON asks BEGIN
  INSERT INTO question_changes (question_id) VALUES (new.question_id);
END;
CREATE TRIGGER questions_changes_ad AFTER DELETE ON questions BEGIN
  INSERT INTO question_changes (question_id) VALUES (old.id);
END;
"""

# Authorities are matched as people read them: each row keeps `key` (knowledge.text's
# `authority_key`, which the store registers as an SQL function on every connection), one
# authority per key. Rows an older release kept apart ("Ynys Môn" and "YNYS MÔN") are merged
# into the first one recorded: its officers and asks move to it, and each question's demand
# is recounted. A configured spelling replaces the kept one when next chosen.
# A later change to `authority_key` needs a migration that recomputes the keys the same way.
AUTHORITY_KEYS = """
ALTER TABLE authorities ADD COLUMN key TEXT;
UPDATE authorities SET key = authority_key(name);
UPDATE officers SET authority_id = (
  SELECT MIN(same.id) FROM authorities au JOIN authorities same ON same.key = au.key
  WHERE au.id = officers.authority_id)
WHERE authority_id IS NOT NULL;
UPDATE asks SET authority_id = (
  SELECT MIN(same.id) FROM authorities au JOIN authorities same ON same.key = au.key
  WHERE au.id = asks.authority_id);
DELETE FROM authorities
WHERE id > (SELECT MIN(same.id) FROM authorities same WHERE same.key = authorities.key);
UPDATE questions SET demand = (SELECT COUNT(DISTINCT a.authority_id) FROM asks a
                               WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL
                               AND a.import_id IS NULL);
CREATE UNIQUE INDEX idx_authorities_key ON authorities(key);
CREATE TRIGGER authorities_key_required BEFORE INSERT ON authorities WHEN new.key IS NULL BEGIN
  SELECT RAISE(ABORT, 'authorities.key is required: see knowledge.text.authority_key');
END;
"""

# Each wording's sentence-embedding vector (knowledge/semantic.py), computed once: keyed
# to the model that made it and a digest of the wording's text (blake2b, 16 bytes), so a
# new model simply finds none of its own and the old model's are removed.
WORDING_VECTORS = """
CREATE TABLE wording_vectors (
  model TEXT NOT NULL,
  digest BLOB NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY (model, digest)
) WITHOUT ROWID;
"""

# (name, sql) in the order they apply; the position is the schema version.
# A merge the matcher proposes but leaves to the expert: an imported row that is likely the
# same as a stored question, but not in the same words, becomes a question of its own and a
# proposal the queue shows ("possibly the same as Q-3"). Hidden with its import until the
# import completes, removed with it if it fails. Resolved by merging (the question is then
# no longer open) or by the expert saying the two are different (`dismissed_at`).
MERGE_PROPOSALS = """
CREATE TABLE merge_proposals (
  id INTEGER PRIMARY KEY,
  question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
  target_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
  score REAL NOT NULL,
  differs TEXT,
  import_id INTEGER REFERENCES imports(id),
  created_at TEXT NOT NULL,
  dismissed_at TEXT,
  dismissed_by INTEGER REFERENCES officers(id),
  UNIQUE (question_id, target_id)
);
CREATE INDEX idx_merge_proposals_target ON merge_proposals(target_id);
CREATE INDEX idx_merge_proposals_import ON merge_proposals(import_id)
  WHERE import_id IS NOT NULL;
"""

# An unmerge gives a merged question its askers back. `merged_from` on an ask already says
# which question it was moved from; a merge now keeps the first one, so a question merged
# into one that is itself merged later still finds its askers. `closed_by_merge` marks the
# asks a merge closed because their officer already asked the target (the officer then
# asks the merged question again after an unmerge); before it, such asks were the withdrawn
# ones left on the merged question with `merged_from` pointing at it. (The notice an unmerge
# sends its askers, kind 'unmerged', came with the outbox rebuilt for peer replies.)
UNMERGE = """
ALTER TABLE asks ADD COLUMN closed_by_merge INTEGER REFERENCES questions(id);
UPDATE asks SET closed_by_merge = merged_from
  WHERE merged_from IS NOT NULL AND question_id = merged_from AND withdrawn_at IS NOT NULL;
CREATE INDEX idx_asks_merged_from ON asks(merged_from) WHERE merged_from IS NOT NULL;
"""

# Peer replies: an officer's experience on a question, delivered once to the others waiting on
# it (an outbox row of kind 'reply' names it), and each officer's choice to hear of them. The
# outbox is rebuilt (SQLite cannot change a CHECK in place) for the kinds unmerges, replies
# and hidden replies owe, and the reply a row carries.
PEER_REPLIES = """
CREATE TABLE replies (
  id INTEGER PRIMARY KEY,
  question_id INTEGER NOT NULL REFERENCES questions(id),
  officer_id INTEGER REFERENCES officers(id),
  authority_id INTEGER NOT NULL REFERENCES authorities(id),
  text TEXT NOT NULL,
  links TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  hidden_at TEXT,
  hidden_by INTEGER REFERENCES officers(id),
  hidden_reason TEXT
);
CREATE INDEX idx_replies_question ON replies(question_id);
CREATE INDEX idx_replies_officer ON replies(officer_id, created_at);
ALTER TABLE officers ADD COLUMN reply_notices INTEGER NOT NULL DEFAULT 1;
CREATE TABLE outbox_next (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (
    kind IN ('answer', 'merged', 'unmerged', 'reply', 'reply_hidden', 'note_hidden',
             'digest', 'release_reminder', 'overdue')
  ),
  recipient TEXT,
  recipient_is_place INTEGER NOT NULL DEFAULT 0,
  audience TEXT CHECK (audience IN ('steering', 'expert')),
  officer_id INTEGER REFERENCES officers(id),
  question_id INTEGER REFERENCES questions(id),
  answer_id INTEGER REFERENCES answers(id),
  merged_from INTEGER REFERENCES questions(id),
  reply_id INTEGER REFERENCES replies(id),
  note_id INTEGER,
  body TEXT,
  window_start TEXT,
  window_end TEXT,
  parts_sent INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'owed' CHECK (status IN ('owed', 'sent')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  next_attempt_at TEXT,
  created_at TEXT NOT NULL,
  sent_at TEXT,
  place TEXT,
  CHECK ((recipient IS NULL) != (audience IS NULL))
);
INSERT INTO outbox_next (id, key, kind, recipient, recipient_is_place, audience, officer_id,
    question_id, answer_id, merged_from, body, window_start, window_end, parts_sent, status,
    attempts, last_error, next_attempt_at, created_at, sent_at, place)
  SELECT id, key, kind, recipient, recipient_is_place, audience, officer_id, question_id,
    answer_id, merged_from, body, window_start, window_end, parts_sent, status, attempts,
    last_error, next_attempt_at, created_at, sent_at, place
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX idx_outbox_owed ON outbox(status, attempts, id);
CREATE INDEX idx_outbox_officer ON outbox(officer_id);
CREATE INDEX idx_outbox_kind ON outbox(kind, window_end);
"""

MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("initial schema", INITIAL),
    ("full-text search", fts_sql("questions", "text") + fts_sql("answers", "body")),
    (
        "front-end state",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);",
    ),
    ("digests and reminders", NOTICES),
    ("queue ranking", QUEUE_RANKING),
    ("matching changes counter", MATCHING_CHANGES),
    (
        "notice progress",
        # A long digest goes out in several messages; remember how many went, so a retry
        # after a failure part-way sends only the rest.
        "ALTER TABLE notices ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;",
    ),
    ("question change log", QUESTION_CHANGES),
    ("one outbox", OUTBOX),
    ("pending imports", PENDING_IMPORTS),
    ("authorities as people read them", AUTHORITY_KEYS),
    ("wording vectors", WORDING_VECTORS),
    (
        "notice places",
        # A notice owed to an audience goes to each of its places (the steering channel of
        # every server): one row per place, each posted and retried on its own. NULL until
        # the front end that sends it says where.
        "ALTER TABLE outbox ADD COLUMN place TEXT;",
    ),
    ("merge proposals", MERGE_PROPOSALS),
    (
        "suggestion scales",
        # Which matcher scored a suggestion (lexical or semantic: other thresholds), so
        # `calibrate` advises on each mode's own scores. Earlier ones were lexical.
        "ALTER TABLE drafts ADD COLUMN scale TEXT NOT NULL DEFAULT 'lexical';",
    ),
    ("merges that can be undone", UNMERGE),
    # Search finds a question by every wording it was asked in, not only its canonical one
    # (an answered question whose first asker misspelled a word is still found).
    ("every wording searchable", fts_sql("asks", "text")),
    (
        "sensitive answers",
        # An answer the expert marked OFFICIAL-SENSITIVE: officers are sent a pointer to the
        # secure route instead; it is never posted in threads, search or exports.
        "ALTER TABLE answers ADD COLUMN marking TEXT;",
    ),
    ("peer replies", PEER_REPLIES),
    (
        "shared notes",
        # Learning an authority shares that is not tied to a question: a case study, a lesson,
        # a contract clause that worked. Searchable (title and text), endorsed or hidden by
        # the expert like replies.
        """
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  officer_id INTEGER REFERENCES officers(id),
  authority_id INTEGER NOT NULL REFERENCES authorities(id),
  title TEXT NOT NULL,
  text TEXT NOT NULL,
  links TEXT NOT NULL DEFAULT '[]',
  topic TEXT NOT NULL,
  created_at TEXT NOT NULL,
  endorsed_at TEXT,
  endorsed_by INTEGER REFERENCES officers(id),
  hidden_at TEXT,
  hidden_by INTEGER REFERENCES officers(id),
  hidden_reason TEXT
);
CREATE INDEX idx_notes_topic ON notes(topic, id);
CREATE VIRTUAL TABLE notes_fts USING FTS5(title, text, tokenize='porter', content=notes);
CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
  INSERT INTO notes_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
  INSERT INTO notes_fts (notes_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
END;
CREATE TRIGGER notes_au AFTER UPDATE OF title, text ON notes BEGIN
  INSERT INTO notes_fts (notes_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
  INSERT INTO notes_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
""",
    ),
    (
        "helpful and solved",
        # An officer marks a peer reply helpful (once), or says it answered their question:
        # that ask then counts no more in the expert's queue (asks.solved_by).
        fts_sql("replies", "text")
        + """
CREATE TABLE reply_marks (
  reply_id INTEGER NOT NULL REFERENCES replies(id),
  officer_id INTEGER NOT NULL REFERENCES officers(id),
  kind TEXT NOT NULL CHECK (kind IN ('helpful', 'solved')),
  created_at TEXT NOT NULL,
  PRIMARY KEY (reply_id, officer_id, kind)
);
ALTER TABLE asks ADD COLUMN solved_by INTEGER REFERENCES replies(id);
""",
    ),
    (
        "browsing by topic",
        # The web site's topic counts and lists (and /questions by topic) read this index
        # alone, instead of every question.
        "CREATE INDEX idx_questions_topic_status ON questions(topic, status) "
        "WHERE import_id IS NULL;",
    ),
)
