# Reference run of R MatchIt for tests/stats/test_matchit_agreement.py.
# Usage: Rscript matchit_agreement.R DATA.csv OUTDIR
#
# Nearest neighbour on the logit of a logistic propensity score (MatchIt's glm with
# link = "linear.logit"), caliper 0.2 SD of that logit, exact on sex, treated units matched
# from the largest logit down:
#   A: 1:1 without replacement;  B: 1:1 with replacement (for the two-way cluster SE);
#   C: k = 5 with replacement (the service default).
#
# Why the distance goes in as a matrix: MatchIt 4.5.1's new fast path for a distance vector
# (nn_matchC_vec) compares |d_t - d_c| with C's integer abs(), so for differences below 1 it
# neither takes the nearest control nor applies the caliper (e.g. treated 0.5, controls 0.3 and
# 0.6 -> matched to 0.3). Given the same distances as a treated x control matrix MatchIt uses
# its general routine (nn_matchC), which is correct. With a matrix, m.order must be "data", so
# the treated rows are put in decreasing order of the logit: the same order as "largest".
# The vector path is also wrong for ratio = 5 with replacement (it repeats the nearest control
# five times); the matrix path takes the five nearest distinct controls (checked by
# test_matchit_451_k5_vector_path_repeats_one_control).
suppressPackageStartupMessages({library(MatchIt); library(sandwich)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
out <- args[2]
f <- treat ~ age_at_index + sex + ethnicity + prev_offences + prev_custody + age_first_contact +
  copas_rate + ogrs_score + offence_group + sentence_months + employed + on_benefit +
  index_year + region

ps <- matchit(f, data = d, method = NULL, distance = "glm", link = "linear.logit")
d$distance <- ps$distance
write.csv(data.frame(event_id = d$event_id, distance = d$distance),
          file.path(out, "units.csv"), row.names = FALSE)
caliper <- 0.2 * sd(d$distance)          # MatchIt's std.caliper: sd over all units

key <- ifelse(d$treat == 1, -d$distance, Inf)
d <- d[order(key, seq_len(nrow(d))), ]   # treated by decreasing logit, then the controls
rownames(d) <- NULL
D <- abs(outer(d$distance[d$treat == 1], d$distance[d$treat == 0], "-"))

run <- function(replace) {
  matchit(f, data = d, method = "nearest", distance = D, caliper = caliper,
          std.caliper = FALSE, ratio = 1, replace = replace, m.order = "data", exact = ~sex)
}
a <- run(FALSE)
mm <- a$match.matrix
pairs <- data.frame(treated = d$event_id[as.integer(rownames(mm))],
                    control = d$event_id[as.integer(mm[, 1])])
write.csv(pairs, file.path(out, "pairs_a.csv"), row.names = FALSE)
s <- summary(a, un = TRUE, addlvariables = data.frame(distance = d$distance))
write.csv(s$sum.all, file.path(out, "balance_all_a.csv"))
write.csv(s$sum.matched, file.path(out, "balance_matched_a.csv"))
md <- match.data(a)
fit <- lm(reoffended ~ treat, data = md, weights = weights)
v <- vcovCL(fit, cluster = ~subclass)

c5 <- matchit(f, data = d, method = "nearest", distance = D, caliper = caliper,
              std.caliper = FALSE, ratio = 5, replace = TRUE, m.order = "data", exact = ~sex)
mm5 <- c5$match.matrix
rows5 <- as.integer(rownames(mm5))
pairs5 <- do.call(rbind, lapply(seq_len(ncol(mm5)), function(j) {
  ok <- !is.na(mm5[, j])
  data.frame(treated = d$event_id[rows5[ok]], control = d$event_id[as.integer(mm5[ok, j])])
}))
write.csv(pairs5, file.path(out, "pairs_c.csv"), row.names = FALSE)
write.csv(data.frame(version = as.character(packageVersion("MatchIt"))),
          file.path(out, "version.csv"), row.names = FALSE)

b <- run(TRUE)
gm <- get_matches(b)
fit2 <- lm(reoffended ~ treat, data = gm, weights = weights)
v2 <- vcovCL(fit2, cluster = ~subclass + person_key)
write.csv(data.frame(estimate = c(coef(fit)[2], coef(fit2)[2]),
                     se = c(sqrt(v[2, 2]), sqrt(v2[2, 2])),
                     n_matched = c(sum(a$weights[d$treat == 1] > 0), sum(b$weights[d$treat == 1] > 0)),
                     caliper = caliper),
          file.path(out, "effects.csv"), row.names = FALSE)
