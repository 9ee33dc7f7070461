-- splits: stock splits and reverse splits of the underlyings, rewritten from the catalog
-- at every start (`[[split]]`). ratio_new shares for every ratio_old from the XNYS trading
-- day ex_date on; a reference price from before it is divided by ratio_new / ratio_old
-- when it is compared with a token after it (docs/reference-prices.md).
-- Grain: one row per (underlying, ex_date).
CREATE TABLE splits (
    underlying VARCHAR NOT NULL,
    ex_date    DATE NOT NULL,
    ratio_new  DECIMAL(38, 18) NOT NULL,
    ratio_old  DECIMAL(38, 18) NOT NULL,
    source     VARCHAR NOT NULL,
    PRIMARY KEY (underlying, ex_date)
);
