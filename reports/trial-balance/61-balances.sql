-- The four-column view: beginning, debit, credit and ending per PCN, period and account (zeros included).
-- Reads: tb_run_pcn, tb_balance, tb_account, tb_period. Writes: nothing. Params: @startPeriod, @endPeriod.
select b.pcn, p.period_display, a.account_no, a.account_name,
  b.beginning_cents / 100.0 as beginning, b.debit_cents / 100.0 as debit, b.credit_cents / 100.0 as credit,
  b.ytd_cents / 100.0 as ending
from tb_balance b
join tb_account a on a.pcn = b.pcn and a.account_no = b.account_no
join tb_period p on p.pcn = b.pcn and p.period = b.period
where b.period between @startPeriod and @endPeriod
  and b.pcn in (select pcn from tb_run_pcn)
order by b.pcn, b.period, a.account_no
