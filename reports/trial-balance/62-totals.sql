-- Per-PCN totals per period: accounts listed, total debits and credits, net activity, and the YTD net
-- (zero for a balanced ledger once retained earnings carries prior years' P&L).
-- Reads: tb_run_pcn, tb_balance, tb_period. Writes: nothing. Params: @startPeriod, @endPeriod.
select b.pcn, p.period_display, count(*) as accounts,
  sum(b.debit_cents) / 100.0 as debit, sum(b.credit_cents) / 100.0 as credit,
  sum(b.current_cents) / 100.0 as net_activity, sum(b.ytd_cents) / 100.0 as ytd_net
from tb_balance b
join tb_period p on p.pcn = b.pcn and p.period = b.period
where b.period between @startPeriod and @endPeriod
  and b.pcn in (select pcn from tb_run_pcn)
group by b.pcn, p.period, p.period_display
order by b.pcn, p.period
