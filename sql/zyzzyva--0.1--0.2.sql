/* sql/zyzzyva--0.1--0.2.sql: zyzzyva 0.1 to 0.2 */

\echo Use "ALTER EXTENSION zyzzyva UPDATE TO '0.2'" to load this file. \quit

-- CREATE EXTENSION zyzzyva installs 0.1 (sql/zyzzyva--0.1.sql) and runs
-- this script after it: there is no zyzzyva--0.2.sql.  So one file says
-- what 0.2 adds, for new databases and for databases that update alike,
-- and sql/zyzzyva--0.1.sql stays as 0.1 shipped.  Everything here must
-- run as well on a 0.1 database that has already replicated batches.
-- The shared library serves both versions: a C symbol that 0.1's SQL
-- names keeps its meaning.
