-- Staging tables of the Trial Balance pipeline, recreated by every run (runs are serialized by the tb lock;
-- every run rebuilds the rows of its PCNs anyway). Portable: SQLite and Azure SQL (DROP TABLE IF EXISTS).
-- Reads: nothing. Writes: tb_run_pcn, tb_account, tb_period, tb_soap_activity, tb_activity, tb_balance.
-- Params: none. Money is integer cents throughout; it becomes currency only in the export queries.
drop table if exists tb_account;
create table tb_account (
  pcn integer not null, account_no varchar(20) not null, account_name varchar(110) not null,
  category_type varchar(10) not null, category_name varchar(50), sub_category_name varchar(50),
  add_period integer not null, is_retained_earnings integer not null,
  primary key (pcn, account_no));
drop table if exists tb_period;
create table tb_period (
  pcn integer not null, period integer not null, period_display varchar(7) not null,
  fiscal_year integer not null, fiscal_order integer not null, period_status integer not null,
  primary key (pcn, period));
drop table if exists tb_soap_activity;
create table tb_soap_activity (
  pcn_name varchar(100), period integer not null, account_no varchar(20) not null,
  debit_cents bigint, credit_cents bigint, beginning_cents bigint, ending_cents bigint);
create index tb_soap_activity_period on tb_soap_activity (pcn_name, period);
drop table if exists tb_activity;
create table tb_activity (
  pcn integer not null, period integer not null, account_no varchar(20) not null,
  debit_cents bigint not null, credit_cents bigint not null, source varchar(10) not null,
  primary key (pcn, period, account_no));
drop table if exists tb_balance;
create table tb_balance (
  pcn integer not null, period integer not null, account_no varchar(20) not null,
  debit_cents bigint not null, credit_cents bigint not null, current_cents bigint not null,
  beginning_cents bigint not null, ytd_cents bigint not null,
  primary key (pcn, period, account_no));
-- The PCNs this run is about (filled by the Accounts step).
drop table if exists tb_run_pcn;
create table tb_run_pcn (pcn integer not null primary key);
