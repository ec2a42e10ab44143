-- Violations: PCN and period whose row count differs from the accounts that exist in that period.
-- Reads: tb_run_pcn, tb_balance, tb_account, tb_period. Params: @startPeriod, @endPeriod.
select p.pcn, p.period, (select count(*) from tb_account a where a.pcn = p.pcn and a.add_period <= p.period) as accounts,
  (select count(*) from tb_balance b where b.pcn = p.pcn and b.period = p.period) as rows_listed
from tb_period p
where p.period between @startPeriod and @endPeriod and p.pcn in (select pcn from tb_run_pcn)
  and (select count(*) from tb_account a where a.pcn = p.pcn and a.add_period <= p.period)
   <> (select count(*) from tb_balance b where b.pcn = p.pcn and b.period = p.period)
