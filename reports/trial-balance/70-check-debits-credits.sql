-- Violations: PCN and period whose total debits differ from total credits.
-- Reads: tb_run_pcn, tb_balance. Params: @startPeriod, @endPeriod.
select pcn, period, sum(debit_cents) as debit_cents, sum(credit_cents) as credit_cents
from tb_balance
where period between @startPeriod and @endPeriod and pcn in (select pcn from tb_run_pcn)
group by pcn, period
having sum(debit_cents) <> sum(credit_cents)
