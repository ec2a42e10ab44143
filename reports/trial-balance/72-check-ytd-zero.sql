-- Violations: PCN and period whose signed YTD balances (retained earnings including prior years' P&L)
-- do not sum to zero.
-- Reads: tb_run_pcn, tb_balance. Params: @startPeriod, @endPeriod.
select pcn, period, sum(ytd_cents) as ytd_net_cents
from tb_balance
where period between @startPeriod and @endPeriod and pcn in (select pcn from tb_run_pcn)
group by pcn, period
having sum(ytd_cents) <> 0
