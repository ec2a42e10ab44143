-- Every account in every period (zeros included) with current activity and YTD under Plex's rules:
-- balance-sheet accounts accumulate from inception; revenue and expense accounts reset at the first
-- fiscal period; prior fiscal years' P&L is folded into the retained earnings account (implicit close).
-- Beginning = YTD before this period's activity, so Ending = Beginning + Debit - Credit on every row; at
-- the first fiscal period P&L accounts begin at zero and retained earnings begins with last year's P&L.
-- Reads: tb_account, tb_period, tb_activity. Writes: tb_balance. Params: @pcnNo.
-- tsql-check: skip WITH … INSERT is valid T-SQL but node-sql-parser 5.4 rejects it; the query parses without the INSERT line
delete from tb_balance where pcn = @pcnNo;
with grid as (
  select a.pcn, p.period, p.fiscal_year, a.account_no, a.category_type, a.is_retained_earnings,
    coalesce(t.debit_cents, 0) as debit_cents, coalesce(t.credit_cents, 0) as credit_cents
  from tb_account a
  join tb_period p on p.pcn = a.pcn and p.period >= a.add_period
  left join tb_activity t on t.pcn = a.pcn and t.period = p.period and t.account_no = a.account_no
  where a.pcn = @pcnNo
),
running as (
  select g.*,
    case when g.category_type in ('Revenue', 'Expense')
      then sum(g.debit_cents - g.credit_cents) over (partition by g.account_no, g.fiscal_year order by g.period rows unbounded preceding)
      else sum(g.debit_cents - g.credit_cents) over (partition by g.account_no order by g.period rows unbounded preceding)
    end as own_ytd
  from grid g
),
pl_by_year as (
  select fiscal_year, sum(debit_cents - credit_cents) as net
  from grid where category_type in ('Revenue', 'Expense') group by fiscal_year
),
periods as (
  select p.period, p.fiscal_year, p.fiscal_order,
    coalesce((select sum(y.net) from pl_by_year y where y.fiscal_year < p.fiscal_year), 0) as prior_years_pl
  from tb_period p where p.pcn = @pcnNo
)
insert into tb_balance (pcn, period, account_no, debit_cents, credit_cents, current_cents, beginning_cents, ytd_cents)
select pcn, period, account_no, debit_cents, credit_cents, current_cents, ytd_cents - current_cents, ytd_cents
from (
  select r.pcn, r.period, r.account_no, r.debit_cents, r.credit_cents, r.debit_cents - r.credit_cents as current_cents,
    r.own_ytd + case when r.is_retained_earnings = 1 then x.prior_years_pl else 0 end as ytd_cents
  from running r
  join periods x on x.period = r.period
) b;
