/* Optimizers over the model's flat buffers, gradient clipping and learning-rate schedules.
 * All loops are plain passes over one buffer: the flat layout makes this one function. */
#ifndef MN_OPTIM_H
#define MN_OPTIM_H

#include "core.h"

/* A stretch [lo, hi) of the flat buffers trained with lr·lr_scale and its own weight
 * decay (a parameter group, as torch.optim's param_groups). */
typedef struct {
    size_t lo, hi;
    double lr_scale;       /* 1: the scheduled lr as it is */
    float weight_decay;
} mn_opt_segment;

typedef struct {
    mn_optimizer_kind kind;
    float beta1, beta2, eps, weight_decay, momentum;
    size_t n;
    float *m, *v;          /* Adam moments, or the SGD momentum buffer in m */
    long t;                /* steps taken */
    /* parameter groups: segments in order covering [0, n), or nseg = 0 for one group */
    mn_opt_segment *seg;
    int nseg;
    int ssm;               /* 1 when some parameters are in MN_GROUP_SSM */
} mn_optimizer;

/* PyTorch semantics:
 *  SGD:   g += wd·p; buf = μ·buf + g (buf = g on the first step); p -= lr·buf (μ = 0: p -= lr·g)
 *  Adam:  g += wd·p; m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²;
 *         p -= lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
 *  AdamW: p -= lr·wd·p, then the Adam update without the g += wd·p. */
mn_status mn_optimizer_init(mn_optimizer *o, const mn_train_config *cfg, size_t n);
/* The parameter groups of a model's tensors (mn_tensor_view.group): MN_GROUP_SSM trains
 * with mn_ssm_lr(cfg) (scaled by the schedule as lr is) and no weight decay,
 * MN_GROUP_NO_DECAY with lr and no weight decay; the rest with lr and cfg's weight decay. Call after mn_optimizer_init; checkpoints need nothing more
 * (the moments stay one flat buffer). */
mn_status mn_optimizer_use_groups(mn_optimizer *o, const mn_train_config *cfg,
                                  const mn_model *m);
/* mn_ssm_lr (mnemo.h): the SSM group's base learning rate. */
void mn_optimizer_free(mn_optimizer *o);
void mn_optimizer_step(mn_optimizer *o, float *params, const float *grads, float lr);

double mn_global_norm(const float *g, size_t n);        /* sqrt(sum g²) in double */
/* Rescale g to max_norm when norm > max_norm; returns the factor applied (1 if none). */
double mn_clip_global_norm(float *g, size_t n, double norm, double max_norm);
void mn_clip_values(float *g, size_t n, float c);       /* clamp to [-c, c] */
int mn_all_finite(const float *x, size_t n);

/* Learning rate at step (0-based): linear warmup from lr/warmup to lr over warmup steps,
 * then constant, or cosine from lr down to lr·min_lr_ratio at the schedule's last step
 * (mn_schedule_length - 1), held there after (see mn_train_config in mnemo.h). */
double mn_schedule_lr(const mn_train_config *cfg, int step);
/* The schedule's length: schedule_steps, or steps when that is 0. */
int mn_schedule_length(const mn_train_config *cfg);
/* MN_E_ARG for a schedule that cannot do what it says: a warmup longer than the schedule
 * (lr never reached), a cosine schedule with fewer than 2 steps after its warmup (nothing
 * decays), a floor outside [0, 1]. */
mn_status mn_schedule_check(const mn_train_config *cfg);

#endif
